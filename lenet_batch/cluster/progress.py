"""Wait on a set of per-seed tasks as they finish, with a running count; a failure becomes a result."""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import ray

from lenet_batch.store.seed_records import progress_line

log = logging.getLogger(__name__)
Result = TypeVar("Result")


def collect(
    pending: dict[Any, int],
    on_failure: Callable[[int, Exception], Result],
    done: list[Result] | None = None,
    reraise: tuple[type[Exception], ...] = (),
) -> list[Result]:
    """Results of every task ({ref: seed}) in seed order, waiting with ray.wait as each finishes.

    A task that failed with one of `reraise` (its own error, e.g. bad input) fails the whole call once every
    task has finished, with that error.
    """
    results, fatal = list(done or []), None
    total = len(results) + len(pending)
    pending = dict(pending)
    while pending:
        finished, _ = ray.wait(list(pending), num_returns=1)
        for ref in finished:
            seed = pending.pop(ref)
            try:
                results.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None)
                fatal = fatal or (cause if isinstance(cause, reraise) else None)
                results.append(on_failure(seed, exc))
            # From the driver, as results arrive: workers' own lines are forwarded late or not at all.
            log.info("%s", progress_line(results[-1], len(results), total))
    if fatal is not None:
        raise fatal
    return sorted(results, key=lambda r: r.seed)
