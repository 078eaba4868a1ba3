"""runs/<run_id>/run.json: the run's config, versions, git commit, data digests and each stage's status."""

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lenet_batch.config import Settings, redact
from lenet_batch.errors import DataError, LenetError
from lenet_batch.provenance import git_commit, now_utc, versions
from lenet_batch.store import backends, storage
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


def public_config(settings: Settings) -> dict[str, Any]:
    """The settings as recorded: values of secret-looking keys masked at any depth."""
    config = dataclasses.asdict(settings)
    # The timeout and retries are recorded once, as storage_timeout and storage_retries.
    config["storage_options"] = {
        k: v for k, v in settings.storage_options.items() if k not in backends.RESERVED
    }
    return redact(config)


def start(run: RunRef, settings: Settings, data_info: dict[str, Any] | None) -> None:
    """Record the config, versions and data of a run (kept across reruns; stages untouched)."""
    record = read_run(run)
    record.update(
        {
            "run_id": run.run_id,
            "config": public_config(settings),
            "versions": versions(),
            "git": git_commit(),  # None when not run from a checkout (a wheel, a Ray Jobs working_dir)
            "updated_at": now_utc(),
        }
    )
    if data_info is not None:
        record["data"] = data_info
    record.setdefault("created_at", now_utc())
    storage.write_json_atomic(run.run_json, record, run.options)


def stage_status(rows: list[dict[str, Any]]) -> str:
    """'complete' when every seed succeeded or was already done, else 'failed'."""
    return "complete" if rows and all(r.get("status") != "failed" for r in rows) else "failed"


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
    entry = {"status": status or stage_status(rows or []), **timing, "finished_at": now_utc(), **extra}
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
