"""Wait on a set of per-seed tasks as they finish, with a running count; a failure becomes a result.

The tasks' own log lines (each epoch of each seed) reach the driver through a LineSink actor, and the
driver logs them itself: once each, in the terminal and in the run's durable log, before the line that
says their seed finished. Ray's forwarding of a worker's stderr drops and reorders lines, and never
reaches the durable log, so it carries only what is not ours (other libraries' warnings, crashes).
"""

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import ray

from lenet_batch.store.seed_records import progress_line

log = logging.getLogger(__name__)
Result = TypeVar("Result")
RELAY_SECONDS = 1.0  # how often the driver takes the tasks' lines while it waits
# A line as a task sends it: (UTC epoch seconds, level number, logger name, message with any traceback).
Line = tuple[float, int, str, str]


@ray.remote(num_cpus=0)
class LineSink:
    """The tasks' log lines, held in arrival order until the driver takes them."""

    def __init__(self) -> None:
        self._lines: list[Line] = []

    def put(self, line: Line) -> None:
        self._lines.append(line)

    def take(self) -> list[Line]:
        lines, self._lines = self._lines, []
        return lines


@contextlib.contextmanager
def line_sink() -> Iterator[ray.actor.ActorHandle]:
    """A sink for one stage's tasks, stopped after it. Its process is a new one: Ray gives an actor none of
    the workers that ran tasks (the warmed ones), and with no runtime_env it starts in about a second."""
    sink = LineSink.remote()
    try:
        yield sink
    finally:
        with contextlib.suppress(Exception):  # unwinding a stop or a Ray failure: never mask that error
            ray.kill(sink)


def relay(lines: Iterable[Line]) -> None:
    """Log the tasks' lines in this process, with the time, level and logger each had in its task."""
    for created, level, name, message in lines:
        logger = logging.getLogger(name)
        if logger.isEnabledFor(level):
            record = logging.makeLogRecord(
                {"name": name, "levelno": level, "levelname": logging.getLevelName(level), "msg": message}
            )
            record.created, record.msecs = created, (created - int(created)) * 1000
            logger.handle(record)


def collect(
    pending: dict[Any, int],
    on_failure: Callable[[int, Exception], Result],
    done: list[Result] | None = None,
    reraise: tuple[type[Exception], ...] = (),
    sink: ray.actor.ActorHandle | None = None,
) -> list[Result]:
    """Results of every task ({ref: seed}) in seed order, waiting with ray.wait as each finishes.

    With a `sink`, the tasks' lines are relayed as they come, and all of a task's before its result.
    A task that failed with one of `reraise` (its own error, e.g. bad input) fails the whole call once every
    task has finished, with that error.
    """
    results, fatal = list(done or []), None
    total = len(results) + len(pending)
    pending = dict(pending)
    while pending:
        timeout = RELAY_SECONDS if sink is not None else None
        finished, _ = ray.wait(list(pending), num_returns=1, timeout=timeout)
        if sink is not None:
            relay(ray.get(sink.take.remote()))  # a task's lines are all in once it has returned
        for ref in finished:
            seed = pending.pop(ref)
            try:
                results.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None)
                fatal = fatal or (cause if isinstance(cause, reraise) else None)
                results.append(on_failure(seed, exc))
            log.info("%s", progress_line(results[-1], len(results), total))
    if fatal is not None:
        raise fatal
    return sorted(results, key=lambda r: r.seed)
