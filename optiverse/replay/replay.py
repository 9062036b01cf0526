"""Replaying a session's log: scenes at a version or time, check, diff, bisect.  Pure.

Every replay starts from the empty scene at version 0 and applies the
logged operations in order through :func:`optiverse.commands.apply`, the
same function the app, the client engine and the server's sequencer use,
so a replay is what every replica computed.  Snapshots are never a
starting point here, only something to check the replay against.

The logged operation is the one ``apply`` returned on the server (with its
inverse data filled in), so applying it again to the replayed scene must
return it unchanged.  ``check`` relies on that: a logged op that applies
differently, or not at all, marks its version as the first bad one even
when no snapshot has been taken since.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, Literal

import attrs

from optiverse.collab.messages import OpMsg, Origin, User
from optiverse.commands import Batch, Create, Delete, Noop, Op, Set, apply
from optiverse.commands.ops import LeafOp
from optiverse.errors import OptiverseError
from optiverse.replay.errors import CorruptLog, ExpressionError, ReplayError, VersionOutOfRange
from optiverse.replay.log import Log, LogItem, LogSource, StoredSnapshot
from optiverse.scene import PropValue, Scene, component_props
from optiverse.scene.fileformat import scene_from_data

__all__ = [
    "BisectResult",
    "CheckReport",
    "ComponentDiff",
    "Difference",
    "Predicate",
    "Problem",
    "Progress",
    "PropChange",
    "Touch",
    "apply_entry",
    "bisect",
    "check",
    "check_range",
    "compile_check",
    "diff",
    "explain_op_mismatch",
    "first_difference",
    "format_value",
    "scene_at",
    "scene_differences",
    "version_at_time",
]

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while replaying; ``total`` may be 0 when unknown."""

Predicate = Callable[[Scene, int], bool]
"""A bisect check: ``predicate(scene, version)``."""


def apply_entry(scene: Scene, entry: OpMsg) -> Op:
    """Apply a logged entry; CorruptLog (naming its version) if it does not apply."""
    try:
        return apply(scene, entry.op)
    except OptiverseError as exc:
        raise CorruptLog(f"operation does not apply: {exc}", entry.version) from None


def scene_at(log: Log, version: int, progress: Progress | None = None) -> Scene:
    """The scene right after ``version`` was applied (0: the empty scene)."""
    check_range(log, version)
    scene = Scene()
    for entry in log.entries[:version]:
        apply_entry(scene, entry)
        if progress is not None:
            progress(entry.version, version)
    return scene


def version_at_time(log: Log, when: float) -> int:
    """The version current at Unix time ``when``: the last entry logged at or before it.

    The walk stops at the first entry after ``when``, so a server clock that
    stepped back cannot pull a later entry into an earlier time.
    """
    version = 0
    for entry in log.entries:
        if entry.time > when:
            break
        version = entry.version
    return version


def check_range(log: Log, *versions: int) -> None:
    """VersionOutOfRange unless every version is in 0..head."""
    for version in versions:
        if not 0 <= version <= log.head:
            raise VersionOutOfRange(version, log.head, log.session)


# --- scene comparison ---------------------------------------------------------


@attrs.frozen
class Difference:
    """How component ``component`` differs between scene ``a`` and scene ``b``.

    ``prop`` is None when the component is missing from one side or has
    another kind there; ``a`` and ``b`` are then the kinds (None: missing).
    """

    component: str
    prop: str | None
    a: PropValue
    b: PropValue

    def describe(self, a_name: str = "a", b_name: str = "b") -> str:
        if self.prop is None:
            return (
                f"component {self.component!r}: {a_name} has {_kind(self.a)}, "
                f"{b_name} has {_kind(self.b)}"
            )
        return (
            f"component {self.component!r} property {self.prop!r}: "
            f"{a_name} {format_value(self.a)}, {b_name} {format_value(self.b)}"
        )


def _kind(kind: PropValue) -> str:
    return "no such component" if kind is None else f"a {kind}"


def format_value(value: PropValue) -> str:
    """A property value as JSON would spell it (floats exact, strings quoted)."""
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def scene_differences(a: Scene, b: Scene) -> Iterator[Difference]:
    """Every difference between ``a`` and ``b``, by component id, then property order."""
    for cid in sorted(a.components.keys() | b.components.keys()):
        ca, cb = a.get(cid), b.get(cid)
        if ca is None or cb is None or ca.kind != cb.kind:
            yield Difference(cid, None, ca.kind if ca else None, cb.kind if cb else None)
            continue
        if ca == cb:
            continue
        pa, pb = component_props(ca), component_props(cb)
        for prop, value in pa.items():
            if value != pb[prop]:
                yield Difference(cid, prop, value, pb[prop])


def first_difference(a: Scene, b: Scene) -> Difference | None:
    """The first of :func:`scene_differences`, or None when the scenes are equal."""
    return next(scene_differences(a, b), None)


# --- check --------------------------------------------------------------------


@attrs.frozen
class Problem:
    """The first thing wrong with a log: at ``version``, about ``component`` if known.

    ``version`` is where the log stops being consistent.  When what is wrong
    is a value that an earlier entry wrote (a tampered or diverged value is
    only caught when a later op or snapshot disagrees with it), ``suspect``
    is the last version before that wrote the property (or touched the
    component): where to look first.
    """

    version: int
    message: str
    component: str | None = None
    line: int | None = None
    suspect: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        hint = f"; last changed at version {self.suspect}" if self.suspect is not None else ""
        return f"version {self.version}{where}: {self.message}{hint}"


@attrs.frozen
class CheckReport:
    """What ``check`` replayed and compared, and the first problem (None: all good)."""

    session: str
    versions: int
    snapshots: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check(source: Log | LogSource, progress: Progress | None = None, total: int = 0) -> CheckReport:
    """Replay all of ``source`` and compare every stored snapshot with the replay.

    Stops at the first problem: a line or row that does not decode, a
    version out of sequence, an operation that does not apply or applies
    differently from how it was logged, a snapshot that differs.
    """
    checker = _Checker()
    try:
        for item in source.items():
            checker.feed(item)
            if checker.problem is not None:
                break
            if progress is not None and isinstance(item, OpMsg):
                progress(item.version, total)
    except CorruptLog as exc:
        checker.problem = Problem(exc.version, exc.reason, line=exc.line)
    line = getattr(source, "line", None)
    if checker.problem is not None and checker.problem.line is None and line is not None:
        # A log file knows where the offending item is; name the line too.
        checker.problem = attrs.evolve(checker.problem, line=line)
    return CheckReport(source.session, checker.version, checker.snapshots, checker.problem)


class _Checker:
    def __init__(self) -> None:
        self.scene = Scene()
        self.version = 0
        self.snapshots = 0
        self.problem: Problem | None = None
        # Last version that wrote (component, property), and that touched a component.
        self.wrote: dict[tuple[str, str], int] = {}
        self.touched: dict[str, int] = {}

    def feed(self, item: LogItem) -> None:
        if isinstance(item, StoredSnapshot):
            self._snapshot(item)
        else:
            self._entry(item)

    def _suspect(self, component: str | None, prop: str | None) -> int | None:
        if component is None:
            return None
        if prop is not None and (component, prop) in self.wrote:
            return self.wrote[component, prop]
        return self.touched.get(component)

    def _entry(self, entry: OpMsg) -> None:
        expected = self.version + 1
        if entry.version != expected:
            self.problem = Problem(expected, f"out of sequence: found version {entry.version}")
            return
        try:
            effective = apply(self.scene, entry.op)
        except OptiverseError as exc:
            component = getattr(exc, "component", None) or _first_id(entry.op)
            self.problem = Problem(
                expected,
                f"operation does not apply: {exc}",
                component,
                suspect=self._suspect(component, getattr(exc, "prop", None)),
            )
            return
        if effective != entry.op:
            component, prop, detail = explain_op_mismatch(entry.op, effective)
            self.problem = Problem(
                expected,
                f"logged operation differs from how it applies: {detail}",
                component,
                suspect=self._suspect(component, prop),
            )
            return
        self.version = expected
        self._record(effective)

    def _record(self, op: Op) -> None:
        for leaf in _leaves(op):
            if isinstance(leaf, Noop):
                continue
            self.touched[leaf.id] = self.version
            written = leaf.state if isinstance(leaf, Delete) else leaf.props
            for prop in written:
                self.wrote[leaf.id, prop] = self.version

    def _snapshot(self, snap: StoredSnapshot) -> None:
        if snap.version != self.version:
            self.problem = Problem(
                snap.version,
                f"snapshot at version {snap.version}, but the log ends at version {self.version}",
            )
            return
        try:
            stored = scene_from_data(snap.scene)
        except OptiverseError as exc:
            self.problem = Problem(snap.version, f"snapshot is not a valid scene: {exc}")
            return
        difference = first_difference(self.scene, stored)
        if difference is not None:
            self.problem = Problem(
                snap.version,
                "snapshot differs from the replay: " + difference.describe("replay", "snapshot"),
                difference.component,
                suspect=self._suspect(difference.component, difference.prop),
            )
            return
        self.snapshots += 1


def _first_id(op: Op) -> str | None:
    for leaf in _leaves(op):
        if not isinstance(leaf, Noop):
            return leaf.id
    return None


def _leaves(op: Op) -> tuple[LeafOp, ...]:
    return op.ops if isinstance(op, Batch) else (op,)


def explain_op_mismatch(logged: Op, effective: Op) -> tuple[str | None, str | None, str]:
    """(component, property, what differs) between a logged op and how it applied."""
    for a, b in zip(_leaves(logged), _leaves(effective), strict=False):
        if a == b:
            continue
        if isinstance(a, Set) and isinstance(b, Set) and a.id == b.id:
            for key in a.props:
                new_a, new_b = a.props[key], b.props.get(key)
                if new_a != new_b:
                    return a.id, key, _prop_text(a.id, key, "logged new value", new_a, new_b)
                if key in a.old and a.old[key] != b.old.get(key):
                    old_a, old_b = a.old[key], b.old.get(key)
                    return a.id, key, _prop_text(a.id, key, "logged old value", old_a, old_b)
        if isinstance(a, Create | Delete) and isinstance(b, Create | Delete) and a.id == b.id:
            pa = a.props if isinstance(a, Create) else a.state
            pb = b.props if isinstance(b, Create) else b.state
            what = (
                "logged as created with" if isinstance(a, Create) else "logged as deleted holding"
            )
            for key in sorted(pa.keys() | pb.keys()):
                if pa.get(key) != pb.get(key):
                    return a.id, key, _prop_text(a.id, key, what, pa.get(key), pb.get(key))
        component = None if isinstance(a, Noop) else a.id
        return component, None, f"logged {_brief(a)}, the replay applies {_brief(b)}"
    return _first_id(logged), None, "the operation was altered"


def _prop_text(component: str, prop: str, what: str, logged: PropValue, replay: PropValue) -> str:
    return (
        f"component {component!r} property {prop!r}: {what} {format_value(logged)}, "
        f"the replay has {format_value(replay)}"
    )


def _brief(op: LeafOp) -> str:
    if isinstance(op, Noop):
        return "a noop"
    return f"a {type(op).__name__.lower()} of {op.id!r}"


# --- diff ---------------------------------------------------------------------


@attrs.frozen
class Touch:
    """One logged edit of a component: when, by whom, as what kind of action."""

    version: int
    user: User
    origin: Origin


@attrs.frozen
class PropChange:
    prop: str
    old: PropValue
    new: PropValue
    by: tuple[Touch, ...]
    """Every edit of this property between the two versions, oldest first."""


@attrs.frozen
class ComponentDiff:
    """One component's change between two versions.

    ``props`` holds its properties in the newer version (``added``,
    ``changed``) or the older one (``removed``); ``by`` is who added or
    removed it (``changed``: everyone who touched it).
    """

    id: str
    status: Literal["added", "removed", "changed"]
    kind: str
    props: dict[str, PropValue]
    changes: tuple[PropChange, ...] = ()
    by: tuple[Touch, ...] = ()


class _Authorship:
    """Who touched which component and property, while replaying a range."""

    def __init__(self) -> None:
        self.props: dict[tuple[str, str], list[Touch]] = {}
        self.created: dict[str, Touch] = {}
        self.deleted: dict[str, Touch] = {}
        self.any: dict[str, list[Touch]] = {}

    def record(self, effective: Op, touch: Touch) -> None:
        for leaf in _leaves(effective):
            if isinstance(leaf, Noop):
                continue
            self.any.setdefault(leaf.id, []).append(touch)
            if isinstance(leaf, Create):
                self.created[leaf.id] = touch
                for prop in leaf.props:
                    self.props.setdefault((leaf.id, prop), []).append(touch)
            elif isinstance(leaf, Delete):
                self.deleted[leaf.id] = touch
            else:
                for prop in leaf.props:
                    self.props.setdefault((leaf.id, prop), []).append(touch)


def diff(log: Log, a: int, b: int, progress: Progress | None = None) -> list[ComponentDiff]:
    """Per component: what was added, removed, and which properties changed from ``a`` to ``b``.

    ``a`` may be after ``b``: the diff then reads backwards in time, but
    authorship always names the edits of the versions in between.
    """
    check_range(log, a, b)
    lo, hi = min(a, b), max(a, b)
    scene = scene_at(log, lo, progress)
    older = scene.copy()
    authors = _Authorship()
    for entry in log.entries[lo:hi]:
        effective = apply_entry(scene, entry)
        authors.record(effective, Touch(entry.version, entry.user, entry.origin))
        if progress is not None:
            progress(entry.version, hi)
    before, after = (older, scene) if a <= b else (scene, older)
    return _component_diffs(before, after, authors)


def _component_diffs(before: Scene, after: Scene, authors: _Authorship) -> list[ComponentDiff]:
    out: list[ComponentDiff] = []
    for cid in sorted(before.components.keys() | after.components.keys()):
        old, new = before.get(cid), after.get(cid)
        if old is not None and new is not None and old.kind == new.kind:
            if old == new:
                continue
            po, pn = component_props(old), component_props(new)
            changes = tuple(
                PropChange(prop, po[prop], pn[prop], tuple(authors.props.get((cid, prop), ())))
                for prop in po
                if po[prop] != pn[prop]
            )
            out.append(
                ComponentDiff(
                    cid, "changed", new.kind, pn, changes, tuple(authors.any.get(cid, ()))
                )
            )
            continue
        if old is not None:
            touch = authors.deleted.get(cid) or authors.created.get(cid)
            out.append(
                ComponentDiff(cid, "removed", old.kind, component_props(old), by=_opt(touch))
            )
        if new is not None:
            touch = authors.created.get(cid) or authors.deleted.get(cid)
            out.append(ComponentDiff(cid, "added", new.kind, component_props(new), by=_opt(touch)))
    return out


def _opt(touch: Touch | None) -> tuple[Touch, ...]:
    return () if touch is None else (touch,)


# --- bisect -------------------------------------------------------------------


@attrs.frozen
class BisectResult:
    """``version`` is the first at which the check is false; ``steps`` are (version, result)."""

    version: int
    entry: OpMsg
    steps: tuple[tuple[int, bool], ...]


def bisect(
    log: Log, good: int, bad: int, predicate: Predicate, progress: Progress | None = None
) -> BisectResult:
    """The first version in (good, bad] at which ``predicate`` is false, by binary search.

    ``predicate`` must be true at ``good`` and false at ``bad``.  Like ``git
    bisect`` it assumes one switch from true to false; if the check flips
    back and forth the answer is *a* version where it turns false.
    """
    check_range(log, good, bad)
    if good >= bad:
        raise ReplayError(f"--good {good} must be before --bad {bad}")
    cache = _Checkpoints(log, good, bad, progress)
    steps: list[tuple[int, bool]] = []

    def test(version: int) -> bool:
        result = predicate(cache.scene(version), version)
        steps.append((version, result))
        return result

    if not test(good):
        raise ReplayError(f"the check is already false at --good {good}")
    if test(bad):
        raise ReplayError(f"the check is still true at --bad {bad}")
    lo, hi = good, bad
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if test(mid):
            lo = mid
        else:
            hi = mid
    return BisectResult(hi, log.entry(hi), tuple(steps))


class _Checkpoints:
    """Scenes of (good, bad] on demand: copies every sqrt(n) versions, replay in between.

    One pass stores about sqrt(n) scene copies; each lookup then replays at
    most sqrt(n) entries, instead of keeping n scenes or replaying from 0.
    """

    def __init__(self, log: Log, good: int, bad: int, progress: Progress | None) -> None:
        self.log = log
        self.good = good
        self.step = max(1, math.isqrt(bad - good))
        scene = scene_at(log, good, progress)
        self.saved = {good: scene.copy()}
        for entry in log.entries[good:bad]:
            apply_entry(scene, entry)
            if (entry.version - good) % self.step == 0:
                self.saved[entry.version] = scene.copy()
            if progress is not None:
                progress(entry.version, bad)

    def scene(self, version: int) -> Scene:
        base = self.good + (version - self.good) // self.step * self.step
        scene = self.saved[base].copy()
        for entry in self.log.entries[base:version]:
            apply_entry(scene, entry)
        return scene


def compile_check(expression: str) -> Predicate:
    """A predicate evaluating the Python ``expression`` on each scene.

    The expression runs with full Python powers (this is a local debugging
    tool; never feed it untrusted text).  Its namespace: ``scene``,
    ``components`` (``scene.components``: id to component), ``version``,
    ``math``, and ``trace(scene)`` (the ray tracer).
    """
    try:
        code = compile(expression, "<--check>", "eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset and exc.offset > 0 else ""
        raise ExpressionError(f"--check is not a Python expression: {exc.msg}{where}") from None

    def predicate(scene: Scene, version: int) -> bool:
        namespace: dict[str, Any] = {
            "scene": scene,
            "components": scene.components,
            "version": version,
            "math": math,
            "trace": _trace,
        }
        try:
            return bool(eval(code, namespace))
        except Exception as exc:
            text = " ".join(str(exc).split())
            raise ExpressionError(
                f"--check failed at version {version}: {type(exc).__name__}: {text}"
            ) from None

    return predicate


def _trace(scene: Scene) -> Any:
    from optiverse.optics import trace

    return trace(scene)
