"""runs/<run_id>/run.json: the run's config, versions, data digests and the status of each stage."""

import dataclasses
from typing import Any

from lenet_batch import storage
from lenet_batch.config import Settings
from lenet_batch.seed_run import now_utc, versions
from lenet_batch.storage import Layout

STAGES = ("train", "infer", "summary")


def read_run(layout: Layout, run_id: str, options: dict | None) -> dict[str, Any]:
    """The run record, or an empty one when the run has none yet."""
    uri = layout.run_json(run_id)
    return (
        storage.read_json(uri, options) if storage.exists(uri, options) else {"run_id": run_id, "stages": {}}
    )


def public_config(settings: Settings) -> dict[str, Any]:
    """The settings as recorded: storage option values that look secret are masked."""
    config = dataclasses.asdict(settings)
    config["storage_options"] = storage.redact(settings.storage_options)
    return config


def start(
    layout: Layout, run_id: str, settings: Settings, data_info: dict | None, options: dict | None
) -> None:
    """Record the config, versions and data of a run (kept across reruns; stages untouched)."""
    record = read_run(layout, run_id, options)
    record.update(
        {"run_id": run_id, "config": public_config(settings), "versions": versions(), "updated_at": now_utc()}
    )
    if data_info is not None:
        record["data"] = data_info
    record.setdefault("created_at", now_utc())
    storage.write_json_atomic(layout.run_json(run_id), record, options)


def stage_status(rows: list[dict[str, Any]]) -> str:
    """'complete' when every seed succeeded or was already done, else 'failed'."""
    return "complete" if rows and all(r.get("status") != "failed" for r in rows) else "failed"


def update_stage(
    layout: Layout,
    run_id: str,
    stage: str,
    rows: list[dict[str, Any]] | None,
    options: dict | None,
    status: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Set one stage's status (and per-seed rows) in run.json; returns the stage entry."""
    record = read_run(layout, run_id, options)
    entry = {"status": status or stage_status(rows or []), "finished_at": now_utc(), **extra}
    if rows is not None:
        entry["seeds"] = rows
    record.setdefault("stages", {})[stage] = entry
    record["updated_at"] = now_utc()
    storage.write_json_atomic(layout.run_json(run_id), record, options)
    return entry
