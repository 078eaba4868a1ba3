"""Connect to a Ray cluster, or start a local one bound to loopback for the length of a run."""

import _thread
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from types import FrameType

import ray

from lenet_batch.cluster import connect, progress, reaper
from lenet_batch.cluster.held_signals import STOP_SIGNAL, signals_held
from lenet_batch.store import run_log

log = logging.getLogger(__name__)


# The thread caps the workers of the local Ray this driver started inherited (None: none started).
_local_env: dict[str, str] | None = None


def inherited_env() -> dict[str, str] | None:
    """What the workers of the local Ray this process started inherited (task_options reads it)."""
    return _local_env


@contextlib.contextmanager
def ray_session(
    address: str = "",
    num_cpus: int | None = None,
    worker_env: dict[str, str] | None = None,
    connect_timeout: float = 30.0,
) -> Iterator[None]:
    """Join `address` (or the cluster a Ray job runs in), else run a local Ray on 127.0.0.1 for the block.

    A local Ray's processes inherit this driver's environment: `worker_env` (the tasks' thread caps) is
    set here first, so that the workers the node starts at once can run the tasks (see task_options). A
    watchdog stops them if this driver dies without stopping them (see reaper). The caller's SIGTERM
    handler stays in force throughout; a signal that comes while Ray starts or stops is handled as soon
    as it is done (held_signals). A Ray that cannot be started or joined is ClusterUnavailable (connect).
    """
    if ray.is_initialized():
        yield
        return
    restamp_ray_logs()
    watchdog = None
    try:
        with _sigterm_left_to_us():
            if address:
                connect.join(address, connect_timeout)
            else:
                watchdog = reaper.start_watchdog()  # before ray.init: a driver killed while Ray starts too
                _start_local_watched(watchdog, num_cpus, worker_env)
        restamp_ray_logs()
        progress.open_sink()
        yield
    finally:
        _forget_local_env()
        progress.close_sink()
        with signals_held(STOP_SIGNAL):  # stopping Ray is not cut short; a signal meanwhile is handled after
            ray.shutdown()
            reaper.stop_watchdog(watchdog)


def _start_local_watched(
    watchdog: subprocess.Popen, num_cpus: int | None, worker_env: dict[str, str] | None
) -> None:
    """Start a local Ray on 127.0.0.1 whose processes inherit `worker_env`, and tell the watchdog its
    session folder (what it stops if this driver dies)."""
    global _local_env
    connect.prepare_local()
    os.environ.update(worker_env or {})
    connect.start_local(num_cpus or os.cpu_count() or 1)
    _local_env = dict(worker_env or {})
    log.info("started a local Ray on 127.0.0.1: %s", ray.cluster_resources())
    context = ray.get_runtime_context()
    reaper.tell_session(watchdog, os.path.join(context.get_temp_dir(), context.get_session_name()))


def _forget_local_env() -> None:
    global _local_env
    _local_env = None


@contextlib.contextmanager
def _sigterm_left_to_us() -> Iterator[None]:
    """For the block, Ray installs no SIGTERM handler of its own.

    ray.init replaces the caller's handler with its own (sys.exit, or stopping the node and sys.exit(1)),
    and installs a C++ failure handler for SIGTERM that ray.shutdown later resets to the default action,
    so that a SIGTERM after the first Ray session killed the process outright (no clean-up, the lock left
    behind). With both left out, the caller's handler sees every SIGTERM, during ray.init too.
    """
    import ray._private.ray_constants as ray_constants
    import ray._private.utils as ray_utils

    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True  # read when the driver's core worker starts
    original = ray_utils.set_sigterm_handler
    ray_utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        ray_utils.set_sigterm_handler = original


class _Stopped(BaseException):
    """Raised in the main thread to stop a block early (not an Exception: no retry loop may swallow it)."""


@contextlib.contextmanager
def stopped_by_failure(future: Future | None) -> Iterator[None]:
    """Stop the block (starting Ray) as soon as `future` fails, and raise the future's error instead.

    The data loads in a thread while Ray starts, which takes seconds; a truncated file fails in a fraction
    of that. Main thread only (a signal handler does the stopping); elsewhere the block runs to its end.
    """
    if future is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    if future.done() and future.exception() is not None:
        raise future.exception()  # failed before the block began: it is skipped
    armed, guard = threading.Event(), threading.Lock()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if armed.is_set():  # a late one, after the block, does nothing
            raise _Stopped

    def on_done(done: Future) -> None:
        with guard:
            if armed.is_set() and done.exception() is not None:
                _thread.interrupt_main(STOP_SIGNAL)

    previous = signal.signal(STOP_SIGNAL, on_signal)
    armed.set()
    try:
        try:
            future.add_done_callback(on_done)
            yield
        finally:
            with guard:
                armed.clear()
    except _Stopped:
        raise future.exception() from None
    finally:
        signal.signal(STOP_SIGNAL, previous)


# Set by the CLI on its stderr handler (cli.configure_logging): Ray's lines follow that handler's level.
TERMINAL_MARK = "_lenet_batch_stderr"
ANSI_CODES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class _RayLines(logging.StreamHandler):
    """Ray's own lines in lenet-batch's format (ISO-8601 UTC); ray.init cannot set its format back.

    They obey the terminal's level: under --quiet only Ray's warnings and errors show.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        super().setFormatter(run_log.formatter())

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        """Ignored: ray.init re-formats every handler of the "ray" logger with its own format."""

    def format(self, record: logging.LogRecord) -> str:
        return ANSI_CODES.sub("", super().format(record))  # ray.init colours the dashboard's URL

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < _terminal_level():
            return
        self.stream = sys.stderr  # wherever stderr points now (as Ray's own handler does)
        super().emit(record)


def _terminal_level() -> int:
    """The level of the CLI's terminal handler (WARNING under --quiet); NOTSET when there is none."""
    levels = [h.level for h in logging.getLogger().handlers if getattr(h, TERMINAL_MARK, False)]
    return min(levels, default=logging.NOTSET)


def restamp_ray_logs() -> None:
    """Ray's own lines in the driver get lenet-batch's line format (ISO-8601 UTC timestamps)."""
    ray_logger = logging.getLogger("ray")
    if not any(isinstance(h, _RayLines) for h in ray_logger.handlers):
        for handler in list(ray_logger.handlers):
            ray_logger.removeHandler(handler)
        ray_logger.addHandler(_RayLines())
