"""Wait on a set of per-seed tasks as they finish, with a running count; a failure becomes a result."""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import ray

log = logging.getLogger(__name__)
Result = TypeVar("Result")


def collect(
    pending: dict[Any, int], on_failure: Callable[[int, Exception], Result], done: list[Result] | None = None
) -> list[Result]:
    """Results of every task ({ref: seed}) in seed order, waiting with ray.wait as each finishes."""
    results = list(done or [])
    total = len(results) + len(pending)
    pending = dict(pending)
    while pending:
        finished, _ = ray.wait(list(pending), num_returns=1)
        for ref in finished:
            seed = pending.pop(ref)
            try:
                results.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                results.append(on_failure(seed, exc))
            log.info("seeds done: %d/%d", len(results), total)
    return sorted(results, key=lambda r: r.seed)
