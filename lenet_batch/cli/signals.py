"""SIGTERM (cron timeouts, `kill`, Kubernetes) unwinds a command as Ctrl-C does, so that it cleans up.

A signal's KeyboardInterrupt is raised wherever the main thread is, a finalizer included; Python prints an
exception raised there ("Exception ignored in …") and goes on, and the stop was lost: a night SIGTERMed
in its summary finished and exited 0. So such an interrupt is raised again in the main thread, and a
command that still ends normally after a SIGTERM says so and exits 143 (stopped_by_sigterm).
"""

import _thread
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

from lenet_batch.stops import SIGTERM_SEEN

RAISE_AGAIN_SECONDS = 0.05
_sigterm = SIGTERM_SEEN  # a SIGTERM came during the command; the night's owner and its watch read it too
_unwinding = threading.Event()  # its KeyboardInterrupt is on its way up: a second SIGTERM is ignored


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Unwind once, so that tasks stop, the lock is released and the running stage is marked interrupted;
    a second SIGTERM during that clean-up is ignored."""
    if _unwinding.is_set():
        return
    _sigterm.set()
    _unwinding.set()
    # KeyboardInterrupt is what Ray's blocking calls (ray.wait, ray.get) let through; callers tell them apart.
    raise KeyboardInterrupt("SIGTERM")


def _raise_again(unraisable: "sys.UnraisableHookArgs", previous) -> None:
    """An interrupt that a finalizer swallowed is raised again in the main thread; the rest as before."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        previous(unraisable)
        return
    _unwinding.clear()
    # From another thread, a moment later: raised in here, it would be swallowed again.
    signum = signal.SIGTERM if _sigterm.is_set() else signal.SIGINT
    timer = threading.Timer(RAISE_AGAIN_SECONDS, _thread.interrupt_main, args=(signum,))
    timer.daemon = True  # never keeps the process alive
    timer.start()


@contextlib.contextmanager
def sigterm_handled() -> Iterator[None]:
    """Our SIGTERM handler for the block (main thread only), the previous one restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _sigterm.clear()
    _unwinding.clear()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: _raise_again(unraisable, previous_hook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGTERM, previous)
        _sigterm.clear()  # the next command or library call in this process (tests, notebooks): unstopped


def stopped_by_sigterm() -> bool:
    """True when a SIGTERM came during the command (its KeyboardInterrupt, or one it caused, is unwinding)."""
    return _sigterm.is_set()
