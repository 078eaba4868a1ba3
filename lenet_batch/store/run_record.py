"""runs/<run_id>/run.json: the run's config, versions, data digests and the status of each stage."""

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

from lenet_batch.config import Settings, redact
from lenet_batch.errors import DataError, StorageError
from lenet_batch.provenance import now_utc, versions
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


def update_stage(
    run: RunRef, stage: str, rows: list[dict[str, Any]] | None, status: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Set one stage's status (and per-seed rows) in run.json; returns the stage entry."""
    record = read_run(run)
    entry = {"status": status or stage_status(rows or []), "finished_at": now_utc(), **extra}
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
            update_stage(run, stage, None, status="interrupted")
        except StorageError as exc:  # the stop must not wait on, or fail for, the record
            log.warning("could not mark stage %s interrupted in %s: %s", stage, run.run_json, exc)
        raise
