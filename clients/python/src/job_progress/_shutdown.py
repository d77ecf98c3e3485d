"""Flushing every live client when the process is told to stop.

``atexit`` alone is not enough: a SIGTERM with the default handler kills
the process without running it, and Celery's prefork children leave
through ``os._exit``. So SIGTERM and SIGINT get a handler that flushes
(bounded by each client's ``flush_timeout``) and then does what the
previous handler would have done: call it, or die of the signal.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from typing import Any, Protocol


class Flushable(Protocol):
    """What is flushed at exit: a ``Client`` (not imported: it imports this)."""

    def flush(self) -> Any: ...


_clients: weakref.WeakSet[Flushable] = weakref.WeakSet()
_previous: dict[int, Any] = {}
_lock = threading.Lock()


def register(client: Flushable, handle_signals: bool) -> None:
    """Flushes ``client`` at exit, and on SIGTERM/SIGINT when ``handle_signals``."""
    _clients.add(client)
    if handle_signals:
        _install()


def unregister(client: Flushable) -> None:
    """Forgets a closed client."""
    _clients.discard(client)


def flush_all() -> None:
    """Flushes every live client, each within its own ``flush_timeout``."""
    for client in list(_clients):
        try:
            client.flush()
        except Exception:  # exiting anyway: the client has logged what failed
            pass


def _install() -> None:
    # Signal handlers can only be set from the main thread; a client made
    # elsewhere still flushes at exit and at the end of each job.
    if threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        for signum in (signal.SIGTERM, signal.SIGINT):
            current = signal.getsignal(signum)
            if current is _on_signal:
                continue
            _previous[signum] = current
            signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: Any) -> None:
    flush_all()
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    # SIG_IGN (or None: set outside Python): the signal is ignored, as before.


atexit.register(flush_all)
