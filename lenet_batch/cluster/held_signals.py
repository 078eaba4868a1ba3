"""Signals held back while Ray starts or stops, and handled as soon as it is done.

ray.init and ray.shutdown cut short by an exception (a SIGTERM's KeyboardInterrupt, a Ctrl-C, the data
load's stop) leave Ray half set up: C++ threads of a core worker the driver no longer tracks, a node whose
processes no one stops. A process stopped like that cleaned up and then, once in a while, died of SIGSEGV
at exit. Held, the signal is handled a moment later, with Ray in a state it can stop from.
"""

import contextlib
import signal
import threading
from collections.abc import Iterator

HELD = (signal.SIGTERM, signal.SIGINT)
# session.stopped_by_failure's signal: simulated in-process by interrupt_main, nothing is sent to the process.
STOP_SIGNAL = signal.SIGUSR1


@contextlib.contextmanager
def signals_held(*extra: int) -> Iterator[None]:
    """SIGTERM, SIGINT and `extra` signals during the block go to their handlers when it ends, once each.

    Main thread only (elsewhere the block runs as is); a signal without a Python handler is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {}
    for signum in (*HELD, *extra):
        handler = signal.getsignal(signum)
        if callable(handler):
            previous[signum] = handler
            signal.signal(signum, lambda got, frame: received.append(got))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(received):  # in the order they came
            previous[signum](signum, None)
