"""A summary with nothing new is not made again: its inputs as one digest, and the summary they made.

The inputs are everything the summary reads or compares: each committed partition's marker (model, input,
rows, commit time), each predicted seed's metrics.json (model and finish time), run.json's data, seeds and
train and infer stages, the baseline (its id and when its own summary was made) and the gate's rule, and
this code's version and schema. summary.json records the digest; a summary whose digest is unchanged is
reused: nothing is written, and the verdict (exit 4 included) is the one it recorded.
"""

import hashlib
import json
from dataclasses import asdict

from lenet_batch import __version__
from lenet_batch.config import GateRule
from lenet_batch.state.run_state import RunState
from lenet_batch.summary.types import SCHEMA_VERSION, RunSummary

MARKER_KEYS = ("model_sha256", "input_sha256", "rows", "committed_at")
READ_STAGES = ("train", "infer")  # what the evaluation was made by (not a named --input, not later stages)


def _predictions(state: RunState) -> dict[str, object]:
    """Per committed partition of the run's evaluation: what its marker says it was made from."""
    seen: dict[str, object] = {}
    for seed, s in sorted((state.seeds or {}).items()):
        if s.marker is None:
            continue
        metrics = s.metrics
        seen[str(seed)] = {
            "marker": {k: getattr(s.marker, k) for k in MARKER_KEYS},
            "metrics": [metrics.model_sha256, metrics.finished_at] if metrics else None,
        }
    return seen


def inputs_digest(
    state: RunState,
    baseline: RunSummary | None,
    baseline_id: str | None,
    rule: GateRule,
    reference: RunSummary | None = None,
) -> str:
    """The digest of everything the run's summary is made from (see the module's docstring)."""
    record = state.record
    parts = {
        "code": [__version__, SCHEMA_VERSION],
        "predictions": _predictions(state),
        "run": {
            "data": record.data.to_json() if record and record.data else None,
            "seeds": list(record.seeds or ()) if record else None,
            "failed": sorted(record.failed_seeds()) if record else [],
            "stages": {k: v.to_json() for k, v in record.stages.items() if k in READ_STAGES}
            if record
            else {},
        },
        "baseline": [baseline_id, baseline.generated_at, baseline.inputs_digest] if baseline else None,
        "reference": [reference.run_id, reference.generated_at] if reference else None,
        "rule": asdict(rule),
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
