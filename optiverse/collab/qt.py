"""The Qt sync client: a websockets connection in a worker thread, the engine on the GUI thread.

Why a thread and not ``QWebSocket``: QWebSocket offers no permessage-deflate,
and the bandwidth target while dragging (< 3 KB/s per user) depends on
compression; the thread also runs exactly the connection and reconnect code
of the headless client (:class:`optiverse.collab.aio.ConnectionLoop`).  Why
not qasync: it breaks later ``QEventLoop.exec()`` calls after a stop (see
docs/undo.md, "Transport").

Threads and ownership:

* the worker thread runs an asyncio loop with one ``ConnectionLoop``; its
  callbacks only *emit signals* carrying the link, the text frame or the
  close info, queued to the GUI thread;
* the :class:`~optiverse.collab.engine.ClientEngine` lives on the GUI thread
  (it owns the scene the UI reads); every engine input and every drain
  happens there, in the slots below, so nothing is shared but text;
* sending is ``Link.send``, which is thread-safe and drops frames meant for a
  connection that has ended, so an old frame never precedes a new hello;
* the thread never outlives this object: :meth:`stop` joins it, and if the
  object is destroyed without a stop (its parent went away), its destruction
  stops the thread first.

With a :class:`~optiverse.collab.recording.Recorder`, the client records
exactly what :class:`~optiverse.collab.aio.AsyncClient` records, at the same
points: ``start`` when built, then ``connect``, ``disconnected``, ``resend``,
every frame received on the current connection (``in``, before it is
decoded) and every frame written (``out``).  The owner of the engine records
the other engine inputs (local edits and presence; the document does).

After every engine input the owner (the document) calls :meth:`flush`, which
writes what the engine queued and dispatches its events.  Submits go out at
most ``submit_rate`` per second: while one is held, later edits stay in the
engine's buffer and leave together after the ack, which is what keeps a drag
to about 30 messages per second however fast the mouse moves.  Frames the
engine queues while a submit is held wait behind it, so the wire (and a
recording) always has the engine's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from PyQt6.QtCore import QObject, QTimer, pyqtSignal, pyqtSlot

from optiverse.collab.aio import ConnectionLoop, Link, LinkClosed
from optiverse.collab.backoff import backoff, should_reconnect
from optiverse.collab.engine import (
    ClientEngine,
    ConnState,
    Event,
    PeerJoined,
    PeerLeft,
    PeerPresence,
    Refused,
    ServerError,
    Throttled,
    Welcomed,
)
from optiverse.collab.messages import ProtocolError, Submit, User, decode_server, encode
from optiverse.collab.recording import Recorder

__all__ = ["STATES", "QtSyncClient"]

log = logging.getLogger(__name__)

STATES = ("offline", "connecting", "connected", "reconnecting")
SUBMIT_RATE = 30.0


class QtSyncClient(QObject):
    """One engine in one session over websockets; see the module docstring.

    States (:attr:`state`, :attr:`stateChanged`): ``"connecting"`` until the
    first welcome, ``"connected"`` while joined, ``"reconnecting"`` after a
    lost connection (edits keep applying locally and are sent after the next
    welcome), ``"offline"`` once stopped or refused for good.
    """

    stateChanged = pyqtSignal(str)
    usersChanged = pyqtSignal()
    peerJoined = pyqtSignal(object)  # User
    peerLeft = pyqtSignal(object)  # User
    # user, client id, cursor (x, y) mm or None, selection tuple or None
    presenceReceived = pyqtSignal(object, str, object, object)
    errorOccurred = pyqtSignal(str, str)  # code, message
    welcomed = pyqtSignal(str)  # session id
    eventsReceived = pyqtSignal(object)  # list[Event], for the document
    messageSent = pyqtSignal(str)  # every text frame written (logs, tests)

    # From the worker thread; queued to the GUI thread.
    _linkOpened = pyqtSignal(object)
    _linkText = pyqtSignal(object, str)
    _linkClosed = pyqtSignal(object)
    _loopEnded = pyqtSignal(object)

    def __init__(
        self,
        engine: ClientEngine,
        url: str,
        *,
        session: str | None = None,
        create: bool = False,
        password: str | None = None,
        delays: Callable[[], Iterator[float]] = backoff,
        submit_rate: float = SUBMIT_RATE,
        compression: str | None = "deflate",
        recorder: Recorder | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if create == (session is not None):
            raise ValueError("QtSyncClient needs exactly one of session=... and create=True")
        self.engine = engine
        self.url = url
        self._join = (session, create, password)
        self._state = "offline"
        self._link: Link | None = None
        self._loop = ConnectionLoop(
            url,
            on_open=self._emit_opened,
            on_text=self._emit_text,
            on_close=self._emit_closed,
            delays=delays,
            compression=compression,
        )
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._welcomed_once = False
        self._submit_interval = 1.0 / submit_rate if submit_rate > 0 else 0.0
        self._last_submit = -1e9
        # A submit waiting for its turn, and any frames queued after it.
        self._held: tuple[Link, list[str]] | None = None
        self._held_timer = QTimer(self)
        self._held_timer.setSingleShot(True)
        self._held_timer.timeout.connect(self._release_held)
        self._throttle_delays = backoff(initial=0.05, max_delay=2.0)
        self._resend_timer = QTimer(self)
        self._resend_timer.setSingleShot(True)
        self._resend_timer.timeout.connect(self._resend)
        self._welcome_users: dict[str, User] = {}
        self._clients: dict[str, User] = {}
        self._error_reported = False  # on this connection; the close needs no second message
        # Emitted from the worker thread; the slots belong to this GUI-thread
        # object, so the automatic connection queues them to the GUI thread.
        self._linkOpened.connect(self._on_opened)
        self._linkText.connect(self._on_text)
        self._linkClosed.connect(self._on_closed)
        self._loopEnded.connect(self._on_loop_ended)
        self._recorder = recorder
        if recorder is not None:
            recorder.start(engine.client_id, engine.user, engine.scene)

    # --- state ------------------------------------------------------------------

    @property
    def state(self) -> str:
        """One of :data:`STATES`."""
        return self._state

    @property
    def session(self) -> str | None:
        return self.engine.session

    @property
    def users(self) -> list[User]:
        """Users online in the session (me included), one entry per user id."""
        out: dict[str, User] = dict(self._welcome_users)
        for user in self._clients.values():
            out.setdefault(user.id, user)
        return list(out.values())

    # --- control ----------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the worker thread; returns at once."""
        if self._thread is not None:
            raise RuntimeError("QtSyncClient.start() was already called")
        self._set_state("connecting")
        self._thread = threading.Thread(
            target=self._thread_main, name=f"sync-{self.engine.client_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Close the connection, stop reconnecting and join the worker thread.

        Unsent edits stay in the engine (they are not sent anywhere).  A
        thread still busy after ``timeout`` (a connect attempt to an
        unreachable host) is left to finish on its own; it emits nothing more.
        """
        self._stopped = True
        self._held = None
        self._held_timer.stop()
        self._resend_timer.stop()
        if self._thread is not None and self._thread.is_alive():
            # RuntimeError: its event loop closed meanwhile, so the run is over anyway.
            with contextlib.suppress(RuntimeError):
                self._loop.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("sync thread %s did not stop within %g s", self._thread.name, timeout)
        self._link = None
        self._disconnect_engine(None, "stopped")
        self._set_state("offline")

    def drop_connection(self) -> None:
        """Drop the socket abruptly, as a network failure would; the client reconnects."""
        if self._link is not None:
            self._link.abort()

    def flush(self) -> None:
        """Write what the engine queued and dispatch its events.  Call after every engine input."""
        for message in self.engine.messages_to_send():
            link = self._link
            if link is None:
                continue  # the engine queues what matters again after the next welcome
            text = encode(message)
            if self._held is not None and self._held[0] is link:
                self._held[1].append(text)  # keep the engine's order behind the held submit
                continue
            if isinstance(message, Submit) and self._submit_interval:
                wait = self._last_submit + self._submit_interval - time.monotonic()
                if wait > 0:
                    # The engine keeps one submit in flight, so at most one is ever held.
                    self._held = (link, [text])
                    self._held_timer.start(max(1, round(wait * 1000)))
                    continue
                self._last_submit = time.monotonic()
            self._write(link, text)
        events = self.engine.events_received()
        if events:
            self._dispatch(events)

    # --- worker thread ----------------------------------------------------------

    def _thread_main(self) -> None:
        error: BaseException | None = None
        try:
            asyncio.run(self._loop.run())
        except BaseException as exc:  # reported to the GUI thread, never lost
            error = exc
        self._to_gui(self._loopEnded, error)

    def _emit_opened(self, link: Link) -> None:
        self._to_gui(self._linkOpened, link)

    def _emit_text(self, text: str) -> None:
        self._to_gui(self._linkText, self._loop.link, text)

    def _emit_closed(self, info: LinkClosed) -> None:
        self._to_gui(self._linkClosed, info)

    @staticmethod
    def _to_gui(signal: Any, *args: object) -> None:
        # RuntimeError: the QObject was deleted (after a stop() that timed out).
        with contextlib.suppress(RuntimeError):
            signal.emit(*args)

    # --- GUI thread slots -------------------------------------------------------

    @pyqtSlot(object)
    def _on_opened(self, link: Link) -> None:
        if self._stopped:
            return
        self._link = link
        self._error_reported = False
        session, create, password = self._join
        if self.engine.session is not None:
            session, create = self.engine.session, False
        self._disconnect_engine(None, "reconnected")
        if self._recorder is not None:
            self._recorder.connect(session, create, password is not None)
        self.engine.connect(session, create=create, password=password)
        self.flush()

    @pyqtSlot(object, str)
    def _on_text(self, link: Link | None, text: str) -> None:
        if self._stopped or link is None or link is not self._link:
            return
        if self._recorder is not None:
            self._recorder.received(text)
        try:
            message = decode_server(text)
        except ProtocolError as exc:
            log.warning("bad message from the server, reconnecting: %s", exc)
            link.abort()
            return
        try:
            self.engine.receive(message)
        except Exception as exc:
            # An exception must not escape a slot (PyQt would abort the app).
            # Reconnecting resynchronises from the server's log.
            log.exception("the sync engine failed on %s; reconnecting", type(message).__name__)
            self.errorOccurred.emit("internal", f"sync error, reconnecting: {exc}")
            link.abort()
            return
        self.flush()

    @pyqtSlot(object)
    def _on_closed(self, info: LinkClosed) -> None:
        if self._stopped:
            return
        if info.opened:
            self._link = None
            self._held = None
            self._held_timer.stop()
            self._disconnect_engine(info.code, info.reason)
            if self._clients or self._welcome_users:
                self._clients.clear()
                self._welcome_users.clear()
                self.usersChanged.emit()
        if info.retry_in is None:
            if info.opened and not should_reconnect(info.code) and not self._error_reported:
                self.errorOccurred.emit(
                    "closed", f"the server closed the connection: {info.code} {info.reason}"
                )
            self._set_state("offline")
        else:
            self._set_state("reconnecting" if self._welcomed_once else "connecting")

    @pyqtSlot(object)
    def _on_loop_ended(self, error: BaseException | None) -> None:
        if error is not None and not self._stopped:
            log.error("sync connection loop failed: %r", error)
            self.errorOccurred.emit("internal", f"connection loop failed: {error}")
        if not self._stopped:
            self._set_state("offline")

    def _release_held(self) -> None:
        held, self._held = self._held, None
        if held is None or held[0] is not self._link:
            return
        self._last_submit = time.monotonic()
        link, texts = held
        for text in texts:
            self._write(link, text)

    def _resend(self) -> None:
        if self._stopped:
            return
        if self._recorder is not None:
            self._recorder.resend()
        self.engine.resend()
        self.flush()

    def _disconnect_engine(self, code: int | None, reason: str) -> None:
        if self.engine.state is not ConnState.OFFLINE:
            self.engine.disconnected()
            if self._recorder is not None:
                self._recorder.disconnected(code, reason)

    def _write(self, link: Link, text: str) -> None:
        if self._recorder is not None:
            self._recorder.sent(text)
        link.send(text)
        self.messageSent.emit(text)

    def __dtor__(self) -> None:
        # sip calls this as the C++ object starts to be destroyed (its parent is
        # going away, or deleteLater) with no stop() first: end the thread now,
        # so it neither outlives its client nor emits into a deleted object.
        if self._thread is not None and not self._stopped:
            self._stopped = True
            with contextlib.suppress(RuntimeError):
                self._loop.stop()
            self._thread.join(2.0)

    def _dispatch(self, events: list[Event]) -> None:
        users_changed = False
        for event in events:
            if isinstance(event, Welcomed):
                self._welcomed_once = True
                self._throttle_delays = backoff(initial=0.05, max_delay=2.0)
                self._welcome_users = {u.id: u for u in event.users}
                self._clients.clear()
                users_changed = True
                self._set_state("connected")
                self.welcomed.emit(event.session)
            elif isinstance(event, PeerJoined):
                self._clients[event.client] = event.user
                users_changed = True
                self.peerJoined.emit(event.user)
            elif isinstance(event, PeerLeft):
                self._clients.pop(event.client, None)
                if event.user.id not in {u.id for u in self._clients.values()}:
                    self._welcome_users.pop(event.user.id, None)
                users_changed = True
                self.peerLeft.emit(event.user)
            elif isinstance(event, PeerPresence):
                self.presenceReceived.emit(event.user, event.client, event.cursor, event.selection)
            elif isinstance(event, Throttled):
                self._resend_timer.start(max(1, round(next(self._throttle_delays) * 1000)))
            elif isinstance(event, ServerError | Refused):
                self._error_reported = True
                self.errorOccurred.emit(event.code, event.message)
        if users_changed:
            self.usersChanged.emit()
        self.eventsReceived.emit(events)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)
