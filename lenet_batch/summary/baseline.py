"""Which run tonight's is compared with: an explicit run id, or the previous completed run."""

import logging
from typing import Any

from lenet_batch.errors import ConfigError, DataError
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.run_record import read_run

log = logging.getLogger(__name__)

PREVIOUS = "previous"


def previous_run(run: RunRef) -> str | None:
    """The latest run id sorted before this one whose summary stage completed (regressed runs are skipped)."""
    earlier = [r for r in storage.list_dir(run.layout.runs_root(), run.options) if r < run.run_id]
    for candidate in sorted(earlier, reverse=True):
        other = run.with_run_id(candidate)
        if not storage.exists(other.run_json, run.options):
            continue
        stage = (read_run(other).get("stages") or {}).get("summary") or {}
        if stage.get("status") == "complete" and storage.exists(other.summary_json, run.options):
            return candidate
    return None


def load_baseline(run: RunRef, baseline: str) -> dict[str, Any] | None:
    """The baseline run's summary.json: a run id, "previous", or "" for none."""
    if not baseline:
        return None
    base_id = previous_run(run) if baseline == PREVIOUS else baseline
    if base_id is None:
        log.info("run %s: no earlier run with a complete summary; no baseline to compare with", run.run_id)
        return None
    if base_id == run.run_id:
        raise ConfigError(f"--baseline {baseline}: the baseline must be another run than {run.run_id}")
    uri = run.with_run_id(base_id).summary_json
    if not storage.exists(uri, run.options):
        raise ConfigError(
            f"--baseline {baseline}: {uri} not found; summarise run {base_id} first or pick another"
        )
    doc = storage.read_json(uri, run.options)
    if not isinstance(doc, dict) or (doc.get("across_seeds") or {}).get("mean") is None:
        raise DataError(f"{uri}: no across_seeds.mean to compare with; summarise run {base_id} again")
    return doc
