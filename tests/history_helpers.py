"""Synthetic nights for history tests and `make bench`: run.json + summary.json (+ a report stub) per run.

Shaped as the pipeline writes them (the summary's comparison comes from the real gate), without training.
"""

import datetime as dt
import io
import json
from typing import Any

import numpy as np
import pyarrow as pa
from matplotlib import image as mpimg
from scipy import ndimage

from lenet_batch.data.classes import CLASS_NAMES
from lenet_batch.scoring.partitions import PREDICTION_SCHEMA, write_partition
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from lenet_batch.summary import gate
from lenet_batch.summary.statistics import spread
from lenet_batch.summary.types import RunSummary

# matplotlib's cycle: the trend marks ok nights in C0, regressed in C3, inconclusive in C8, failed or
# incomplete in C1
MARK_COLOURS = {
    "ok": (0x1F, 0x77, 0xB4),
    "regressed": (0xD6, 0x27, 0x28),
    "inconclusive": (0xBC, 0xBD, 0x22),
    "failed": (0xFF, 0x7F, 0x0E),
}
START = dt.datetime(2026, 1, 1, 2, 0, tzinfo=dt.UTC)
MEAN, NOISE, REGRESSED_MEAN = 0.88, 0.003, 0.80
DIGESTS = {
    "train_images": "a" * 64,
    "train_labels": "b" * 64,
    "test_images": "c" * 64,
    "test_labels": "d" * 64,
}


def run_id(night: int) -> str:
    """Night k's run id: a date, as the nightly's default."""
    return (START + dt.timedelta(days=night)).strftime("%Y-%m-%d")


def run_json(rid: str, night: int, seeds: list[int], kind: str) -> dict[str, Any]:
    """run.json of a night of a kind: ok, regressed, failed (its first seed failed in train), incomplete."""
    created = (START + dt.timedelta(days=night)).strftime("%Y-%m-%dT%H:%M:%SZ")
    train = [
        {"seed": s, "status": "failed" if kind == "failed" and s == seeds[0] else "trained"} for s in seeds
    ]
    stages: dict[str, Any] = {
        "train": {"status": "failed" if kind == "failed" else "complete", "seeds": train}
    }
    if kind in ("ok", "regressed"):
        stages["infer"] = {"status": "complete", "seeds": [{"seed": s, "status": "scored"} for s in seeds]}
        stages["summary"] = {"status": "regressed" if kind == "regressed" else "complete"}
    return {
        "run_id": rid,
        "created_at": created,
        "config": {"seeds": f"{seeds[0]}-{seeds[-1]}", "epochs": 10, "batch_size": 256, "lr": 0.1},
        "versions": {"lenet_batch": "0.1.0", "python": "3.11.9", "mxnet": "1.9.1", "ray": "2.60.0"},
        "data": {"source": "/usr/share/datasets/fashion-mnist", "sha256": DIGESTS},
        "stages": stages,
    }


def summary_json(
    rid: str, seeds: list[int], accuracies: np.ndarray, baseline: RunSummary | None
) -> dict[str, Any]:
    """summary.json with every section the summary stage writes, the comparison from the real gate."""
    n = len(seeds)
    per_class = [
        {"class": c, "class_name": name, "mean": float(accuracies.mean() - 0.02 * (c % 3)), "std": 0.01}
        | {"min": 0.8, "max": 0.95, "n_samples": 1000, "ensemble_accuracy": 0.9}
        for c, name in enumerate(CLASS_NAMES)
    ]
    doc = {
        "run_id": rid,
        "seeds": seeds,
        "n_seeds": n,
        "class_names": list(CLASS_NAMES),
        "failed_seeds": [],
        "across_seeds": spread(accuracies.tolist()).to_json(),
        "train_seconds": spread([60.0] * n).to_json(),
        "per_seed": [
            {"run_id": rid, "seed": s, "n_samples": 10_000, "test_accuracy": float(a), "epochs": 10}
            | {"final_train_loss": 0.3, "final_train_accuracy": 0.9, "train_seconds": 60.0}
            for s, a in zip(seeds, accuracies, strict=True)
        ],
        "per_class": per_class,
        "ensemble": {"accuracy": float(accuracies.mean() + 0.01), "n_samples": 10_000},
        "majority_vote": {"accuracy": float(accuracies.mean() + 0.005), "tie_break": "lowest class index"},
        "disagreement": {
            "seeds": seeds,
            "n_pairs": n * (n - 1) // 2,
            "matrix": (np.full((n, n), 0.08) - np.eye(n) * 0.08).tolist(),
        },
        "confusion_matrix": (np.eye(10, dtype=int) * 880 + 13).tolist(),
        "report_html": f"runs/{rid}/summary/report.html",
    }
    reason = "" if baseline else "no earlier run in this output"
    doc["comparison"] = gate.compare(RunSummary.from_json(doc), baseline, why_none=reason).to_json()
    return doc


def synthetic_files(n_runs: int, n_seeds: int, kinds: dict[int, str] | None = None) -> dict[str, bytes]:
    """Relative path -> bytes of n_runs nights (kinds: night -> ok/regressed/failed/incomplete; else ok)."""
    rng, kinds, files = np.random.default_rng(0), kinds or {}, {}
    baseline = None
    for night in range(n_runs):
        rid, kind = run_id(night), kinds.get(night, "ok")
        seeds = list(range(night * n_seeds, (night + 1) * n_seeds))
        files[f"runs/{rid}/run.json"] = json.dumps(run_json(rid, night, seeds, kind)).encode()
        if kind not in ("ok", "regressed"):
            continue
        accuracies = rng.normal(REGRESSED_MEAN if kind == "regressed" else MEAN, NOISE, n_seeds).round(4)
        doc = summary_json(rid, seeds, accuracies, baseline)
        files[f"runs/{rid}/summary/summary.json"] = json.dumps(doc).encode()
        files[f"runs/{rid}/summary/report.html"] = f"<!DOCTYPE html><title>{rid}</title>".encode()
        baseline = RunSummary.from_json(doc) if kind == "ok" else baseline
    return files


def write_synthetic_runs(
    output: str, n_runs: int, n_seeds: int, kinds: dict[int, str] | None = None
) -> list[str]:
    """Write the nights under output (a folder or s3://…), many objects per request; their run ids."""
    files = synthetic_files(n_runs, n_seeds, kinds)
    fs, root = storage.get_fs(output)
    if storage.is_local(output):
        for rel in {rel.rsplit("/", 1)[0] for rel in files}:
            fs.makedirs(f"{root}/{rel}", exist_ok=True)
    fs.pipe({f"{root}/{rel}": data for rel, data in files.items()})
    return [run_id(night) for night in range(n_runs)]


def _predictions(accuracy: float, n: int, sha: str) -> pa.Table:
    """n predictions in the infer stage's schema, the first round(accuracy * n) of them right."""
    labels = np.arange(n, dtype=np.int32) % 10
    right = np.arange(n) < round(accuracy * n)
    predicted = np.where(right, labels, (labels + 1) % 10).astype(np.int32)
    probabilities = np.full((n, 10), 0.1 / 9, dtype=np.float32)
    probabilities[np.arange(n), predicted] = 0.9
    columns = {
        "sample_id": np.arange(n, dtype=np.int64),
        "label": labels,
        "label_name": [CLASS_NAMES[c] for c in labels],
        "prediction": predicted,
        "prediction_name": [CLASS_NAMES[c] for c in predicted],
        "correct": right,
        "confidence": probabilities.max(axis=1),
        "probabilities": list(probabilities),
        "model_sha256": [sha] * n,
        "scored_at": [START] * n,
    }
    return pa.table(columns, schema=PREDICTION_SCHEMA)


def scored_run(layout: Layout, rid: str, day: int, accuracies: list[float], n: int = 200) -> None:
    """A run trained and scored (run.json with its stages, committed predictions), ready for `summary`."""
    run = layout.run(rid)
    seeds = list(range(len(accuracies)))
    record = run_json(rid, day, seeds, "incomplete")
    record["stages"]["infer"] = {
        "status": "complete",
        "seeds": [{"seed": s, "status": "scored"} for s in seeds],
    }
    storage.write_json_atomic(run.run_json, record, layout.options)
    for seed, accuracy in zip(seeds, accuracies, strict=True):
        table = _predictions(accuracy, n, sha=f"{seed:064d}")
        write_partition(run, seed, table.to_batches(), table["model_sha256"][0].as_py())


def read_png(data: bytes) -> np.ndarray:
    """A PNG's pixels (RGBA floats in 0..1)."""
    return mpimg.imread(io.BytesIO(data), format="png")


def mark_positions(pixels: np.ndarray) -> list[tuple[float, str]]:
    """The trend figure's marks by colour, the legend's included: (x of its centre, state), left to right."""
    found = []
    for name, rgb in MARK_COLOURS.items():
        mask = (np.abs(pixels[..., :3] - np.array(rgb) / 255) < 0.06).all(axis=-1)
        blobs, _ = ndimage.label(ndimage.binary_opening(mask, iterations=1))
        for k, where in enumerate(ndimage.find_objects(blobs), start=1):
            if 15 < (blobs[where] == k).sum() < 400:  # a marker, not a line or a stray pixel
                found.append(((where[1].start + where[1].stop) / 2, name))
    return sorted(found)


def marks(pixels: np.ndarray) -> tuple[list[str], list[str]]:
    """The trend figure's marks, by colour: (one state per night, left to right; the legend's, sorted)."""
    found = mark_positions(pixels)
    legend_x = max(x for x, _ in found)  # the legend sits right of the axes, its marks in one column
    nights = [name for x, name in found if x < legend_x - 20]
    return nights, sorted(name for x, name in found if x >= legend_x - 20)


def rings(pixels: np.ndarray) -> list[float]:
    """The x of the centre of each black ring (an accepted night's, and the legend's), left to right: a
    hollow, round blob of dark pixels 15-30 px across (text and the axes' lines are neither)."""
    dark = (pixels[..., :3] < 0.2).all(axis=-1)
    blobs, _ = ndimage.label(dark)
    found = []
    for rows, cols in ndimage.find_objects(blobs):
        height, width = rows.stop - rows.start, cols.stop - cols.start
        hollow = not dark[(rows.start + rows.stop) // 2, (cols.start + cols.stop) // 2]
        if 15 <= height <= 30 and abs(height - width) <= 2 and hollow:
            found.append((cols.start + cols.stop) / 2)
    return sorted(found)
