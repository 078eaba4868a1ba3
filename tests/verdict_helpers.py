"""Synthetic nights judged as the summary stage judges them, without predictions: run.json, then summary.json
whose comparison comes from the real baseline search (summary/baseline.py) and the real gate, then the
summary stage's entry in run.json (summary/stage.py). Failed, interrupted and damaged nights too; and a
snapshot of an output's files, to show that a command wrote nothing.
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from lenet_batch.config import GateRule
from lenet_batch.state.run_state import read_state
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from lenet_batch.summary import gate
from lenet_batch.summary.baseline import load_baseline
from lenet_batch.summary.stage import stage_entry
from lenet_batch.summary.types import RunSummary
from tests.history_helpers import run_id, run_json, summary_json

KINDS = ("judged", "failed", "interrupted", "damaged")


def write_night(
    layout: Layout,
    night: int,
    accuracies: list[float] | None = None,
    kind: str = "judged",
    lr: float = 0.1,
    rule: GateRule | None = None,
    window: int = 7,
) -> str:
    """Night k (run id run_id(k)) of a kind: judged (its seeds' accuracies judged against the baseline and
    reference the search finds), failed (in train), interrupted (in infer) or damaged (run.json does not
    read); returns its run id."""
    rid, run = run_id(night), layout.run(run_id(night))
    seeds = list(range(len(accuracies or [0.0])))
    record = run_json(rid, night, seeds, "ok" if kind == "judged" else "failed")
    record["config"]["lr"] = lr
    if kind == "damaged":
        storage.write_bytes_atomic(run.run_json, b'{"run_id": "' + rid.encode() + b'", "stages": [')
        return rid
    if kind == "interrupted":
        record["stages"]["train"] = {"status": "complete", "seeds": []}
        record["stages"]["infer"] = {"status": "interrupted", "reason": "stopped by SIGTERM"}
    record["stages"].pop("summary", None)  # judged below, as the summary stage would
    storage.write_json_atomic(run.run_json, record)
    if kind == "judged":
        judge(layout, rid, np.asarray(accuracies), lr, rule, window)
    return rid


def judge(
    layout: Layout, rid: str, accuracies: np.ndarray, lr: float, rule: GateRule | None, window: int
) -> None:
    """summary.json of a recorded night judged as the summary stage would (its recipe in its metadata, so
    that the gate says what changed), and its entry in run.json."""
    run = layout.run(rid)
    state = read_state(run)
    base = load_baseline(state, "previous", window=window)
    doc = summary_json(rid, list(range(len(accuracies))), accuracies, None)
    recipe = {"epochs": 10, "batch_size": 256, "lr": lr}
    doc["run_metadata"] = {"recipe": recipe, "seeds": f"0-{len(accuracies) - 1}"}
    summary = RunSummary.from_json(doc)
    cmp = gate.compare(
        summary, base.summary, rule, why_none=base.reason, reference=base.reference, accepted=base.accepted
    )
    doc["comparison"] = cmp.to_json()
    storage.write_json_atomic(run.summary_json, doc)
    record = storage.read_json(run.run_json)
    record["stages"]["summary"] = stage_entry(RunSummary.from_json(doc), None).to_json()
    storage.write_json_atomic(run.run_json, record)


def recorded(layout: Layout, rid: str) -> dict:
    """A night's comparison as its summary.json recorded it."""
    return json.loads(Path(layout.run(rid).summary_json).read_text())["comparison"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under folder (its path relative to folder) -> a digest of a file's bytes and
    its mtime ("dir" for a folder)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_dir():
            found[str(path.relative_to(folder))] = "dir"
        elif path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            found[str(path.relative_to(folder))] = f"{digest}:{path.stat().st_mtime_ns}"
    return found
