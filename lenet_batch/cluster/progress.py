"""Wait on a set of per-seed tasks as they finish, with a running count; a failure becomes a result.

The tasks' own log lines (each epoch of each seed) reach the driver through a LineSink actor, and the
driver logs them itself: once each, in the terminal and in the run's durable log, before the line that
says their seed finished. Ray's forwarding of a worker's stderr drops and reorders lines, and never
reaches the durable log, so it carries only what is not ours (other libraries' warnings, crashes).

A task never waits for its lines to arrive (task_log); instead its last batch says how many it sent, and
the driver takes a task's result once that many are in (or after LINES_WAIT_SECONDS, saying so).
"""

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import ray

from lenet_batch.store.seed_records import progress_line

log = logging.getLogger(__name__)
Result = TypeVar("Result")
RELAY_SECONDS = 0.5  # how often the driver takes the tasks' lines while it waits
LINES_WAIT_SECONDS = 30.0  # after a task ends, how long its last lines may take to arrive
# A line as a task sends it: (UTC epoch seconds, level number, logger name, message with any traceback).
Line = tuple[float, int, str, str]
Sender = tuple[str, str]  # (Ray task id in hex, one execution of that task)


@ray.remote(num_cpus=0)
class LineSink:
    """The tasks' log lines, held in arrival order until the driver takes them."""

    def __init__(self) -> None:
        self._lines: list[Line] = []
        self._received: dict[Sender, int] = {}
        self._totals: dict[Sender, int] = {}

    def put(self, sender: Sender, lines: list[Line], total: int | None = None) -> None:
        """A batch of one task's lines; `total` (its last batch) counts every line it sent."""
        self._lines.extend(lines)
        self._received[sender] = self._received.get(sender, 0) + len(lines)
        if total is not None:
            self._totals[sender] = total

    def take(self) -> tuple[list[Line], list[str]]:
        """The lines since the last take, and the task ids whose every line is now in (each said once)."""
        lines, self._lines = self._lines, []
        complete = [s for s, total in self._totals.items() if self._received.get(s, 0) >= total]
        for sender in complete:
            del self._totals[sender]
        return lines, [task for task, _ in complete]


_session_sink: ray.actor.ActorHandle | None = None  # the open Ray session's sink (open_sink)


def open_sink() -> None:
    """A sink for the whole Ray session, started with it: its process starts while the workers warm and
    the data loads, not beside the first seeds' training."""
    global _session_sink
    _session_sink = LineSink.remote()


def close_sink() -> None:
    """Stop the session's sink (before ray.shutdown)."""
    global _session_sink
    sink, _session_sink = _session_sink, None
    if sink is not None:
        with contextlib.suppress(Exception):  # unwinding a stop or a Ray failure: never mask that error
            ray.kill(sink)


@contextlib.contextmanager
def line_sink() -> Iterator[ray.actor.ActorHandle]:
    """The session's sink, or one for this stage's tasks, stopped after it (a session opened elsewhere)."""
    if _session_sink is not None:
        yield _session_sink
        return
    sink = LineSink.remote()
    try:
        yield sink
    finally:
        with contextlib.suppress(Exception):  # unwinding a stop or a Ray failure: never mask that error
            ray.kill(sink)


def record_of(line: Line) -> logging.LogRecord:
    """A log record with the time, level and logger a line had in its task."""
    created, level, name, message = line
    record = logging.makeLogRecord(
        {"name": name, "levelno": level, "levelname": logging.getLevelName(level), "msg": message}
    )
    record.created, record.msecs = created, (created - int(created)) * 1000
    return record


def relay(lines: Iterable[Line]) -> None:
    """Log the tasks' lines in this process, with the time, level and logger each had in its task."""
    for line in lines:
        logger = logging.getLogger(line[2])
        if logger.isEnabledFor(line[1]):
            logger.handle(record_of(line))


class _Lines:
    """The driver's side of a sink: relays what arrived, remembers which tasks' lines are all in."""

    def __init__(self, sink: ray.actor.ActorHandle | None) -> None:
        self.sink, self.complete = sink, set()

    def take(self) -> None:
        if self.sink is None:
            return
        try:
            lines, complete = ray.get(self.sink.take.remote())
        except ray.exceptions.RayError as exc:  # the sink died: the results still count
            log.warning("the tasks' log lines stopped arriving (%s); their seeds go on", type(exc).__name__)
            self.sink = None
            return
        relay(lines)
        self.complete.update(complete)

    def all_in(self, ref: Any, deadline: float) -> bool:
        """The task's lines are all in, or no longer awaited."""
        return self.sink is None or ref.task_id().hex() in self.complete or time.monotonic() > deadline


def _outcome(ref: Any, seed: int, on_failure: Callable, reraise: tuple) -> tuple[Any, Exception | None, bool]:
    """(result, fatal error or None, whether the task sent its last batch of lines) of a finished task."""
    try:
        return ray.get(ref), None, True
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None)
        fatal = cause if isinstance(cause, reraise) else None
        # A seed's own error ends its task normally (lines sent); a dead worker or a cancel does not.
        return on_failure(seed, exc), fatal, isinstance(exc, ray.exceptions.RayTaskError)


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
    results, fatal, lines = list(done or []), None, _Lines(sink)
    total, pending = len(results) + len(pending), dict(pending)
    ended: dict[Any, tuple[int, Any, float, bool]] = {}  # finished tasks, their lines still on the way
    while pending or ended:
        timeout = RELAY_SECONDS if sink is not None else None
        finished = ray.wait(list(pending), num_returns=1, timeout=timeout)[0] if pending else []
        for ref in finished:
            seed = pending.pop(ref)
            result, error, sent = _outcome(ref, seed, on_failure, reraise)
            fatal = fatal or error
            ended[ref] = (seed, result, time.monotonic() + (LINES_WAIT_SECONDS if sent else 0), sent)
        lines.take()
        for ref in [r for r, (_, _, deadline, _) in ended.items() if lines.all_in(r, deadline)]:
            seed, result, _, sent = ended.pop(ref)
            if sent and not lines.all_in(ref, float("inf")):
                log.warning("seed %d: some of its log lines did not reach the driver", seed)
            results.append(result)
            log.info("%s", progress_line(result, len(results), total))
        if not pending and ended:
            time.sleep(0.05)  # only lines still to come: poll the sink briefly
    if fatal is not None:
        raise fatal
    return sorted(results, key=lambda r: r.seed)
