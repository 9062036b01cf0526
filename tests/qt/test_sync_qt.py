"""Qt clients on a real server: convergence, drags, macros, connection states, offline edits."""

from __future__ import annotations

import json
import random
import threading
import time
import zlib

from pytestqt.qtbot import QtBot

from optiverse.commands import Batch, Set
from optiverse.ui.document import SceneDocument
from tests.qt.conftest import (
    WAIT_MS,
    DocFactory,
    ServerProcess,
    server_snapshot,
    share_all,
    wait_converged,
)
from tests.server.conftest import ServerFactory


def _submits(doc: SceneDocument) -> list[dict[str, object]]:
    """The submit messages ``doc`` writes from now on, decoded."""
    out: list[dict[str, object]] = []
    assert doc.sync is not None
    doc.sync.messageSent.connect(
        lambda text: out.append(data) if (data := json.loads(text))["type"] == "submit" else None
    )
    return out


def _check_server(server: ServerProcess, docs: list[SceneDocument]) -> None:
    session = docs[0].session_id
    assert session is not None
    version, scene = server_snapshot(server.url, session)
    assert version == docs[0].engine.version
    assert scene == docs[0].scene


def test_five_clients_concurrent_adds_moves_edits_deletes_converge(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    docs = [make_doc(name) for name in ("ann", "bob", "cyd", "dee", "eve")]
    share_all(qtbot, shared_server.url, docs)
    rng = random.Random(4)
    for doc in docs:
        for kind in ("lens", "mirror", "source"):
            doc.add_component(kind, {"x_mm": rng.uniform(-100, 100)})
    wait_converged(qtbot, docs)
    ids = sorted(docs[0].scene.components)
    # Every client edits the same components without waiting for the others.
    for round_ in range(4):
        for doc in docs:
            mine = rng.sample(ids, 3)
            doc.move_components(mine, rng.uniform(-5, 5), rng.uniform(-5, 5))
            target = mine[0]
            if target in doc.scene:
                doc.set_properties(target, {"name": f"{doc.user.name}-{round_}"})
            doc.rotate_components(mine[1:], 15.0)
            if rng.random() < 0.3:
                doc.remove_components([rng.choice(ids)])
            doc.add_component("block", {"y_mm": float(round_)})
        qtbot.wait(rng.randint(0, 20))
    wait_converged(qtbot, docs)
    _check_server(shared_server, docs)
    assert len(docs[0].scene) >= 5 * 4


def test_a_drag_is_one_undo_step_and_reaches_the_others_live(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = make_doc("ann"), make_doc("bob")
    share_all(qtbot, shared_server.url, [ann, bob])
    lens = ann.add_component("lens", {"x_mm": 10.0, "y_mm": 20.0})
    wait_converged(qtbot, [ann, bob])
    seen_by_bob: list[float] = []
    bob.remoteEdit.connect(lambda op, user: seen_by_bob.append(bob.scene.components[lens].x_mm))

    for _ in range(40):
        ann.move_components([lens], 1.0, 0.5, final=False)
        qtbot.wait(5)
    ann.move_components([lens], 0.0, 0.0, final=True)
    wait_converged(qtbot, [ann, bob])

    assert bob.scene.components[lens].x_mm == 50.0
    assert len(set(seen_by_bob)) > 2, "intermediate positions reach the others during the drag"
    assert ann.undo_stack.count() == 2  # add + one drag
    assert ann.undo()
    wait_converged(qtbot, [ann, bob])
    comp = bob.scene.components[lens]
    assert (comp.x_mm, comp.y_mm) == (10.0, 20.0)  # back to where the drag started
    assert ann.redo()
    wait_converged(qtbot, [ann, bob])
    assert bob.scene.components[lens].x_mm == 50.0
    # A new drag of the same selection after the release is a new entry.
    ann.move_components([lens], 1.0, 0.0, final=False)
    ann.move_components([lens], 1.0, 0.0, final=True)
    ann.rotate_components([lens], 10.0, final=False)
    ann.rotate_components([lens], 10.0, final=True)
    assert ann.undo_stack.count() == 4
    assert ann.undo() and ann.undo()
    wait_converged(qtbot, [ann, bob])
    comp = bob.scene.components[lens]
    assert (comp.x_mm, comp.angle_deg) == (50.0, 0.0)
    _check_server(shared_server, [ann, bob])


def test_drag_traffic_is_throttled_and_small(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = make_doc("ann"), make_doc("bob")
    share_all(qtbot, shared_server.url, [ann, bob])
    lenses = [ann.add_component("lens")]
    wait_converged(qtbot, [ann, bob])
    assert ann.sync is not None
    frames: list[str] = []
    ann.sync.messageSent.connect(frames.append)

    start = time.monotonic()
    step = 0
    while time.monotonic() - start < 2.0:  # a 2 s drag at ~120 mouse events per second
        ann.move_components(lenses, 0.25, 0.1 * (step % 7 - 3), final=False)
        step += 1
        qtbot.wait(8)
    ann.move_components(lenses, 0.0, 0.0, final=True)
    elapsed = time.monotonic() - start
    wait_converged(qtbot, [ann, bob])

    submits = [f for f in frames if json.loads(f)["type"] == "submit"]
    assert len(submits) <= 32 * elapsed + 2, f"{len(submits)} submits in {elapsed:.2f} s"
    # What permessage-deflate (context takeover, 4 KiB window) would put on the wire.
    deflate = zlib.compressobj(wbits=-12)
    wire = sum(len(deflate.compress(f.encode()) + deflate.flush(zlib.Z_SYNC_FLUSH)) for f in frames)
    assert wire / elapsed < 3000, f"{wire / elapsed:.0f} B/s compressed while dragging"
    assert ann.undo_stack.count() == 2


def test_a_macro_is_one_batch_on_the_wire_and_one_undo_step(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = make_doc("ann"), make_doc("bob")
    share_all(qtbot, shared_server.url, [ann, bob])
    old = ann.add_component("block")
    wait_converged(qtbot, [ann, bob])
    submits = _submits(ann)
    remote: list[object] = []
    bob.remoteEdit.connect(lambda op, user: remote.append(op))
    version = ann.engine.version

    with ann.macro("Build a telescope"):
        first = ann.add_component("lens", {"efl_mm": 200.0})
        second = ann.add_component("lens", {"efl_mm": 50.0, "x_mm": 250.0})
        ann.move_components([first, second], 0.0, 10.0)
        ann.set_properties(second, {"name": "eyepiece"})
        ann.remove_components([old])
    wait_converged(qtbot, [ann, bob])

    assert len(submits) == 1 and submits[0]["op"]["type"] == "batch"  # type: ignore[index]
    assert ann.engine.version == version + 1
    assert len(remote) == 1 and isinstance(remote[0], Batch)
    assert ann.undo_stack.count() == 2
    assert ann.undo_stack.undoText() == "Build a telescope"
    assert bob.scene.components[second].name == "eyepiece"
    assert old not in bob.scene

    assert ann.undo()
    wait_converged(qtbot, [ann, bob])
    assert len(submits) == 2 and submits[1]["origin"] == "undo"
    assert first not in bob.scene and second not in bob.scene and old in bob.scene
    _check_server(shared_server, [ann, bob])


def test_a_macro_that_raises_changes_nothing(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = make_doc("ann"), make_doc("bob")
    share_all(qtbot, shared_server.url, [ann, bob])
    submits = _submits(ann)
    try:
        with ann.macro("half"):
            ann.add_component("lens")
            ann.add_component("lens", {"efl_mm": 0.0})  # invalid: PropertyError
    except ValueError:
        pass
    qtbot.wait(50)
    assert submits == [] and len(ann.scene) == 0 and ann.undo_stack.count() == 0


def test_connection_states_through_a_server_restart_and_offline_edits(
    qtbot: QtBot, server_proc: ServerFactory, make_doc: DocFactory
) -> None:
    server = server_proc()
    ann, bob = make_doc("ann"), make_doc("bob")
    states: list[str] = []
    sessions: list[object] = []
    ann.connectionStateChanged.connect(states.append)
    ann.sessionChanged.connect(sessions.append)
    lens = ann.add_component("lens")
    share_all(qtbot, server.url, [ann, bob])
    wait_converged(qtbot, [ann, bob])

    server.kill()
    qtbot.waitUntil(
        lambda: ann.connection_state == bob.connection_state == "reconnecting", timeout=WAIT_MS
    )
    # Offline: edits apply locally at once and stay undoable.
    mirror = ann.add_component("mirror", {"x_mm": 5.0})
    ann.move_components([lens], 3.0, 0.0)
    ann.set_properties(mirror, {"name": "offline"})
    ann.set_properties(lens, {"efl_mm": 10.0})
    assert ann.undo()  # the efl edit, never sent
    assert ann.scene.components[mirror].name == "offline"
    bob_block = bob.add_component("block")
    bob.move_components([lens], 0.0, 4.0)
    assert ann.engine.pending and bob.engine.pending

    server.restart()
    wait_converged(qtbot, [ann, bob])
    assert states[:2] == ["connecting", "connected"]
    assert "reconnecting" in states and states[-1] == "connected"
    comp = bob.scene.components[lens]
    assert (comp.x_mm, comp.y_mm, comp.efl_mm) == (3.0, 4.0, 100.0)
    assert bob.scene.components[mirror].name == "offline"
    assert bob_block in ann.scene
    assert len(ann.scene) == 3  # nothing lost, nothing applied twice
    _check_server(server, [ann, bob])

    assert ann.undo()  # undo is still mine after the restart: the rename
    wait_converged(qtbot, [ann, bob])
    assert bob.scene.components[mirror].name == ""
    ann.leave()
    assert ann.connection_state == "offline" and states[-1] == "offline"
    assert sessions == [bob.session_id, None]  # announced once, not on the reconnect


def test_edits_made_before_the_server_is_up_are_delivered(
    qtbot: QtBot, server_proc: ServerFactory, make_doc: DocFactory
) -> None:
    server = server_proc()
    ann, bob = make_doc("ann"), make_doc("bob")
    share_all(qtbot, server.url, [ann, bob])
    server.kill()
    qtbot.waitUntil(lambda: ann.connection_state == "reconnecting", timeout=WAIT_MS)
    made = [ann.add_component("source", {"y_mm": float(i)}) for i in range(20)]
    for cid in made[::2]:
        ann.move_components([cid], 1.0, 0.0, final=False)
    ann.move_components([], 0.0, 0.0, final=True)
    qtbot.wait(300)  # several failed reconnect attempts while down
    server.restart()
    wait_converged(qtbot, [ann, bob])
    assert set(made) <= set(bob.scene.components)
    _check_server(server, [ann, bob])


def test_a_dropped_connection_reconnects_and_resends_in_flight_edits(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = make_doc("ann"), make_doc("bob")
    share_all(qtbot, shared_server.url, [ann, bob])
    assert ann.sync is not None
    for i in range(10):
        ann.add_component("lens", {"x_mm": float(i)})
        ann.sync.drop_connection()
        qtbot.wait(3)
    wait_converged(qtbot, [ann, bob])
    assert len(bob.scene) == 10
    _check_server(shared_server, [ann, bob])


def test_a_wrong_password_is_reported_and_the_client_goes_offline(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = make_doc("ann"), make_doc("bob")
    ann.share(shared_server.url, create=True, password="secret")
    qtbot.waitUntil(lambda: ann.connection_state == "connected", timeout=WAIT_MS)
    errors: list[tuple[str, str]] = []
    bob.errorOccurred.connect(lambda code, message: errors.append((code, message)))
    bob.share(shared_server.url, create=False, session=ann.session_id, password="wrong")
    qtbot.waitUntil(lambda: bob.connection_state == "offline", timeout=WAIT_MS)
    assert [code for code, _ in errors] == ["bad_password"], errors
    assert bob.in_session  # still in the document's session until leave()
    bob.leave()
    bob.share(shared_server.url, create=False, session=ann.session_id, password="secret")
    qtbot.waitUntil(lambda: bob.connection_state == "connected", timeout=WAIT_MS)


def test_leaving_from_an_error_slot(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = make_doc("ann"), make_doc("bob")
    ann.share(shared_server.url, create=True, password="secret")
    qtbot.waitUntil(lambda: ann.connection_state == "connected", timeout=WAIT_MS)
    bob.errorOccurred.connect(lambda code, message: bob.leave())
    with qtbot.waitSignal(bob.sessionChanged, timeout=WAIT_MS) as left:
        bob.share(shared_server.url, create=False, session=ann.session_id, password="wrong")
    assert left.args == [None]
    assert not bob.in_session and bob.connection_state == "offline"
    bob.add_component("lens")  # a working local document
    assert len(bob.scene) == 1


def test_peers_and_presence(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = make_doc("ann"), make_doc("bob")
    share_all(qtbot, shared_server.url, [ann, bob])
    qtbot.waitUntil(lambda: [u.name for u in ann.peers] == ["bob"], timeout=WAIT_MS)
    assert [u.name for u in bob.peers] == ["ann"]
    cursors: list[object] = []
    ann.presenceReceived.connect(lambda user, client, cursor, sel: cursors.append(cursor))
    for i in range(20):
        bob.set_presence((float(i), 1.0), ["x"])
    qtbot.waitUntil(lambda: (19.0, 1.0) in cursors, timeout=WAIT_MS)
    assert len(cursors) < 20  # coalesced
    bob.leave()
    qtbot.waitUntil(lambda: ann.peers == [], timeout=WAIT_MS)


def test_set_properties_rejects_invalid_values_and_pushes_nothing(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = make_doc("ann"), make_doc("bob")
    share_all(qtbot, shared_server.url, [ann, bob])
    lens = ann.add_component("lens")
    wait_converged(qtbot, [ann, bob])
    before = ann.scene.copy()
    try:
        ann.set_properties(lens, {"efl_mm": 0.0})
    except ValueError as exc:
        assert "efl_mm" in str(exc)
    else:
        raise AssertionError("PropertyError expected")
    assert ann.scene == before and ann.undo_stack.count() == 1 and not ann.engine.pending
    assert isinstance(Set(lens, {"efl_mm": 1.0}), Set)


def test_a_session_the_restarted_server_lost_is_reported_and_ends_offline(
    qtbot: QtBot, server_proc: ServerFactory, make_doc: DocFactory
) -> None:
    server = server_proc("memory://")
    ann = make_doc("ann")
    ann.share(server.url, create=True)
    qtbot.waitUntil(lambda: ann.connection_state == "connected", timeout=WAIT_MS)
    errors: list[str] = []
    ann.errorOccurred.connect(lambda code, message: errors.append(code))
    server.restart()
    qtbot.waitUntil(lambda: ann.connection_state == "offline", timeout=WAIT_MS)
    assert errors == ["unknown_session"]
    ann.add_component("lens")  # the scene is still there to edit (and to save)


def test_the_engine_is_only_driven_on_the_gui_thread(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = make_doc("ann"), make_doc("bob")
    threads: set[str] = set()
    for doc in (ann, bob):
        doc.componentsChanged.connect(lambda ids: threads.add(threading.current_thread().name))
        doc.connectionStateChanged.connect(
            lambda state: threads.add(threading.current_thread().name)
        )
    share_all(qtbot, shared_server.url, [ann, bob])
    ann.add_component("lens")
    wait_converged(qtbot, [ann, bob])
    assert threads == {threading.main_thread().name}
