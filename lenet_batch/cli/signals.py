"""SIGTERM (cron timeouts, `kill`, Kubernetes) unwinds a command as Ctrl-C does, so that it cleans up."""

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from lenet_batch.stops import SIGTERM_SEEN

_sigterm = SIGTERM_SEEN  # read by the night's owner and its watch too (lenet_batch/stops.py)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Unwind once, so that tasks stop, the lock is released and the running stage is marked interrupted;
    a second SIGTERM during that clean-up is ignored."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _sigterm.set()
    # KeyboardInterrupt is what Ray's blocking calls (ray.wait, ray.get) let through; callers tell them apart.
    raise KeyboardInterrupt("SIGTERM")


@contextlib.contextmanager
def sigterm_handled() -> Iterator[None]:
    """Our SIGTERM handler for the block (main thread only), the previous one restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _sigterm.clear()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stopped_by_sigterm() -> bool:
    """True when the last KeyboardInterrupt came from SIGTERM, not from Ctrl-C."""
    return _sigterm.is_set()
