"""A summary with nothing new is not made again: its inputs as one digest, and the summary they made.

The inputs are everything the summary reads or compares: each committed partition's marker (model, input,
rows, commit time), each predicted seed's metrics.json (model and finish time), run.json's data, seeds and
train and infer stages, the baseline (its id and when its own summary was made) and the gate's rule, and
this code's version and schema. summary.json records the digest; a summary whose digest is unchanged is
reused: nothing is written, and the verdict (exit 4 included) is the one it recorded.
"""

import hashlib
import json
import logging
from dataclasses import asdict, replace
from typing import Any

from lenet_batch import __version__
from lenet_batch.config import GateRule
from lenet_batch.errors import DataError
from lenet_batch.scoring.committed import committed_partitions
from lenet_batch.scoring.partitions import read_marker
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.run_record import RunRecord, read_run
from lenet_batch.store.seed_records import load_complete
from lenet_batch.store.storage import join
from lenet_batch.summary.baseline import Baseline, load_baseline
from lenet_batch.summary.types import SCHEMA_VERSION, RunSummary

log = logging.getLogger(__name__)

MARKER_KEYS = ("model_sha256", "input_sha256", "rows", "committed_at")
READ_STAGES = ("train", "infer")  # what the evaluation was made by (not a named --input, not later stages)


def _predictions(run: RunRef) -> dict[str, Any]:
    """Per committed partition of the run's evaluation: what its marker says it was made from."""
    seen: dict[str, Any] = {}
    for part in committed_partitions(run.layout, run.run_id):
        marker = read_marker(run, part.seed)
        metrics = load_complete(run, part.seed)
        seen[str(part.seed)] = {
            "marker": {k: getattr(marker, k) for k in MARKER_KEYS} if marker else None,
            "metrics": [metrics.model_sha256, metrics.finished_at] if metrics else None,
        }
    return seen


def inputs_digest(run: RunRef, record: RunRecord, base: Baseline, rule: GateRule) -> str:
    """The digest of everything the run's summary is made from (see the module's docstring)."""
    baseline = base.summary
    parts = {
        "code": [__version__, SCHEMA_VERSION],
        "predictions": _predictions(run),
        "run": {
            "data": record.data.to_json() if record.data else None,
            "seeds": record.config.get("seeds"),
            "failed": sorted(record.failed_seeds()),
            "stages": {k: v.to_json() for k, v in record.stages.items() if k in READ_STAGES},
        },
        "baseline": [base.run_id, baseline.generated_at, baseline.inputs_digest] if baseline else None,
        "rule": asdict(rule),
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def previous_summary(run: RunRef, digest: str) -> RunSummary | None:
    """The run's summary.json when it was made from inputs with this digest (and this schema), else None."""
    if not storage.exists(run.summary_json, run.options):
        return None
    try:
        summary = RunSummary.from_json(storage.read_json(run.summary_json, run.options), run.summary_json)
    except DataError as exc:  # made again, which writes a good one
        log.warning("summarising again: %s", exc)
        return None
    if summary.inputs_digest != digest or summary.schema_version != SCHEMA_VERSION:
        return None
    # Where its reports are now (an output copied or moved elsewhere names its old place in summary.json).
    folder = run.summary_dir
    return replace(summary, report_html=join(folder, "report.html"), report_md=join(folder, "report.md"))


def has_pictures(summary: RunSummary) -> bool:
    """The summary drew the article's two image pictures (it had the dataset)."""
    return "train_images.png" in summary.files


def reusable_summary(run: RunRef, baseline: str, rule: GateRule) -> RunSummary | None:
    """The run's summary when nothing is new since it was made and it has its pictures, else None.

    What a finished night checks: no statistics, figures or data are loaded for it."""
    base = load_baseline(run, baseline)
    previous = previous_summary(run, inputs_digest(run, read_run(run), base, rule))
    return previous if previous is not None and has_pictures(previous) else None
