"""runs/<run_id>/run.json: the run's config, versions, git commit, data digests and each stage's status."""

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lenet_batch.errors import DataError, LenetError
from lenet_batch.provenance import git_commit, machine, now_utc, versions
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef

log = logging.getLogger(__name__)


def read_run(run: RunRef) -> dict[str, Any]:
    """The run record, or an empty one when the run has none yet."""
    if not storage.exists(run.run_json, run.options):
        return {"run_id": run.run_id, "stages": {}}
    record = storage.read_json(run.run_json, run.options)
    if not isinstance(record, dict):
        raise DataError(f"{run.run_json}: expected a JSON object, found {type(record).__name__}")
    return record


def start(run: RunRef, config: dict[str, Any], data_info: dict[str, Any] | None) -> None:
    """Record the (already redacted) settings, versions and data of a run; stages are left as they were."""
    record = read_run(run)
    record.update(
        {
            "run_id": run.run_id,
            "config": config,
            "versions": versions(),
            "machine": machine(),  # the driver's host; each seed's metrics.json has its worker's
            "git": git_commit(),  # None when not run from a checkout (a wheel, a Ray Jobs working_dir)
            "updated_at": now_utc(),
        }
    )
    if data_info is not None:
        record["data"] = data_info
    record.setdefault("created_at", now_utc())
    storage.write_json_atomic(run.run_json, record, run.options)


def status_of_rows(rows: list[dict[str, Any]]) -> str:
    """A stage's status from its per-seed rows: 'complete' when every seed succeeded or was already done."""
    return "complete" if rows and all(r.get("status") != "failed" for r in rows) else "failed"


def stage_status(record: dict[str, Any], stage: str) -> str | None:
    """A stage's status as run.json records it (None when the stage has not run)."""
    return ((record.get("stages") or {}).get(stage) or {}).get("status")


def stage_seeds(record: dict[str, Any], stage: str) -> list[dict[str, Any]]:
    """A stage's per-seed rows as run.json records them."""
    return ((record.get("stages") or {}).get(stage) or {}).get("seeds") or []


@dataclass(frozen=True)
class StageClock:
    """When a stage started (UTC) and a monotonic reading to time it by."""

    started_at: str
    monotonic: float

    @classmethod
    def start(cls) -> "StageClock":
        """A clock started now."""
        return cls(now_utc(), time.monotonic())

    def fields(self) -> dict[str, Any]:
        """started_at and the seconds since, as a stage entry records them."""
        return {"started_at": self.started_at, "seconds": round(time.monotonic() - self.monotonic, 3)}


def update_stage(
    run: RunRef,
    stage: str,
    rows: list[dict[str, Any]] | None,
    status: str | None = None,
    clock: StageClock | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Set one stage's status (per-seed rows, start and wall seconds) in run.json; returns the entry."""
    record = read_run(run)
    timing = clock.fields() if clock is not None else {}
    entry = {"status": status or status_of_rows(rows or []), **timing, "finished_at": now_utc(), **extra}
    if rows is not None:
        entry["seeds"] = rows
    record.setdefault("stages", {})[stage] = entry
    record["updated_at"] = now_utc()
    storage.write_json_atomic(run.run_json, record, run.options)
    return entry


@contextlib.contextmanager
def marks_interruption(run: RunRef, stage: str) -> Iterator[None]:
    """Record the stage as 'interrupted' in run.json when the job is stopped inside the block.

    The CLI turns SIGTERM into KeyboardInterrupt (what Ray's blocking calls let through), as Ctrl-C is.
    """
    try:
        yield
    except KeyboardInterrupt:
        try:
            if storage.exists(run.run_json, run.options):  # not recorded yet: nothing to mark
                update_stage(run, stage, None, status="interrupted")
        except LenetError as exc:  # the stop must not wait on, or fail for, the record
            log.warning("could not mark stage %s interrupted in %s: %s", stage, run.run_json, exc)
        raise
