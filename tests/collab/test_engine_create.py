"""Creating a session uploads the engine's confirmed scene before any pending edit."""

from __future__ import annotations

from optiverse.collab.engine import ClientEngine
from optiverse.collab.messages import Submit, User, Welcome
from optiverse.commands import Create, Set, apply
from optiverse.scene import Scene


def _created(engine: ClientEngine) -> Scene:
    """What the server has after sequencing everything the engine submits on create."""
    engine.connect(create=True)
    engine.messages_to_send()  # the hello
    engine.receive(Welcome(session="s", version=0, users=(), snapshot=None, ops=()))
    server = Scene()
    for message in engine.messages_to_send():
        assert isinstance(message, Submit)
        apply(server, message.op)
    return server


def test_create_uploads_the_scene() -> None:
    scene = Scene()
    apply(scene, Create("L1", "lens"))
    engine = ClientEngine("c1", User("u", "U"), scene)
    assert _created(engine) == engine.scene


def test_create_uploads_the_scene_before_edits_made_offline() -> None:
    # Regression: with pending edits the upload was skipped, so the server got
    # a Set on a component it never had (refused) while the client kept it.
    scene = Scene()
    apply(scene, Create("L1", "lens"))
    engine = ClientEngine("c1", User("u", "U"), scene)
    engine.local(Set("L1", {"x_mm": 5.0}))
    engine.local(Create("L2", "mirror"))
    assert _created(engine) == engine.scene
    assert engine.scene.components["L1"].x_mm == 5.0
