"""Wait on a set of per-seed tasks as they finish, with a running count; a failure becomes a row."""

import logging
from collections.abc import Callable
from typing import Any

import ray

log = logging.getLogger(__name__)


def error_text(exc: Exception) -> str:
    """'Type: last line of the message' of a task's own error (the cause inside Ray's wrapper)."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text.splitlines()[-1] if text else ''}".rstrip(": ")[:500]


def collect(
    pending: dict[Any, int],
    on_failure: Callable[[int, Exception], dict[str, Any]],
    rows: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Results of every task ({ref: seed}) in seed order, waiting with ray.wait as each finishes."""
    rows = list(rows or [])
    total = len(rows) + len(pending)
    pending = dict(pending)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            seed = pending.pop(ref)
            try:
                rows.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                rows.append(on_failure(seed, exc))
            log.info("seeds done: %d/%d", len(rows), total)
    return sorted(rows, key=lambda r: r["seed"])
