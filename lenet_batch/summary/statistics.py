"""Statistics across the seeds of one run, from its predictions and per-epoch metrics (pure: no I/O)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lenet_batch.data.classes import CLASS_NAMES
from lenet_batch.errors import DataError
from lenet_batch.records import hosts_of
from lenet_batch.store.seed_records import SeedMetrics
from lenet_batch.summary import disagreement as pairwise
from lenet_batch.summary.prediction_frame import to_frame
from lenet_batch.summary.types import (
    MIN_INTERVAL_SEEDS,
    ClassRow,
    Ensemble,
    Interval,
    MajorityVote,
    RunSummary,
    SeedRow,
    Spread,
)

CI_LEVEL = 0.95
ACCURACY_BOUNDS = (0.0, 1.0)
ENSEMBLE_METHOD = "argmax of the mean probability across seeds, per sample_id"
TIE_BREAK = "lowest class index"  # majority vote: a tie goes to the smallest class index among the tied


@dataclass
class RunStatistics:
    """What the summary stage computed from a run: the typed summary and the frames behind its tables."""

    summary: RunSummary  # the numbers (no comparison, report paths or metadata yet)
    per_seed: pd.DataFrame  # one row per seed: summary.parquet and per_seed.csv
    per_class_by_seed: pd.DataFrame  # one row per (seed, class): per_class.parquet
    samples: pd.DataFrame  # per sample: label, ensemble and majority-vote predictions
    disagreement_matrix: np.ndarray  # seeds x seeds, always in full (summary.json: up to a size)


def clean(value: Any) -> Any:
    """Recursively turn numpy scalars into Python ones and NaN into None, for strict JSON."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def spread(
    values: Sequence[float | None], bounds: tuple[float | None, float | None] = (None, None)
) -> Spread:
    """Count, mean, std (ddof=1), min, max and the 95% t-interval of the mean.

    std from 2 values, the interval from MIN_INTERVAL_SEEDS (with 2, t = 12.7 makes it wider than anything
    it could say); an interval reaching past `bounds` (accuracy: 0 and 1) is cut there and says so.
    """
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return Spread(0)
    mean, low, high = float(x.mean()), float(x.min()), float(x.max())
    if x.size < 2:
        return Spread(int(x.size), mean, None, low, high, None)
    std = float(x.std(ddof=1))
    if x.size < MIN_INTERVAL_SEEDS:
        return Spread(int(x.size), mean, std, low, high, None)
    half = float(stats.t.ppf(0.5 + CI_LEVEL / 2, x.size - 1)) * std / math.sqrt(x.size)
    lo, hi = bounds
    ci_low = max(mean - half, lo) if lo is not None else mean - half
    ci_high = min(mean + half, hi) if hi is not None else mean + half
    clipped = (ci_low, ci_high) != (mean - half, mean + half)
    return Spread(int(x.size), mean, std, low, high, Interval(ci_low, ci_high), clipped)


TRAINING_COLUMNS = (
    "metrics_test_accuracy",
    "final_train_loss",
    "final_train_accuracy",
    "train_seconds",
    "epochs",
    "attempts",
    "hosts",
)


def _training_columns(m: SeedMetrics | None) -> dict[str, float | int | str | None]:
    """A seed's final training numbers and attempts (empty where it has no metrics.json)."""
    if m is None:
        return dict.fromkeys(TRAINING_COLUMNS)
    last = m.epochs[-1]
    return {
        "metrics_test_accuracy": m.test_accuracy,
        "final_train_loss": last.train_loss,
        "final_train_accuracy": last.train_accuracy,
        "train_seconds": m.train_seconds,
        "epochs": len(m.epochs),
        "attempts": len(m.attempts) or None,  # metrics.json of older runs did not list them
        "hosts": hosts_of(m.attempts),
    }


def _by_seed(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seeds, each row's index into seeds, whether each row's prediction is right): no groupby copies."""
    seeds, index = np.unique(frame["seed"].to_numpy(), return_inverse=True)
    return seeds, index, frame["prediction"].to_numpy() == frame["label"].to_numpy()


def per_seed_frame(frame: pd.DataFrame, metrics: dict[int, SeedMetrics | None], run_id: str) -> pd.DataFrame:
    """Per seed: test accuracy from the predictions; final train loss/accuracy and time from metrics."""
    seeds, index, correct = _by_seed(frame)
    counts = np.bincount(index, minlength=seeds.size)
    accuracy = np.bincount(index, weights=correct, minlength=seeds.size) / counts
    rows = [
        {"run_id": run_id, "seed": int(s), "n_samples": int(n), "test_accuracy": float(a)}
        | _training_columns(metrics.get(int(s)))
        for s, n, a in zip(seeds, counts, accuracy, strict=True)
    ]
    table = pd.DataFrame(rows)
    floats = ["metrics_test_accuracy", "final_train_loss", "final_train_accuracy", "train_seconds"]
    return table.astype({c: "float64" for c in floats} | {"epochs": "Int64", "attempts": "Int64"})


def per_class_tables(frame: pd.DataFrame, class_names: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (seed, class) accuracy, and per class its mean, std (ddof=1), min and max across seeds."""
    seeds, index, correct = _by_seed(frame)
    n_classes = len(class_names)
    key = index * n_classes + frame["label"].to_numpy()
    counts = np.bincount(key, minlength=seeds.size * n_classes)
    hits = np.bincount(key, weights=correct, minlength=seeds.size * n_classes)
    present = np.flatnonzero(counts)  # (seed, class) pairs with samples, in seed then class order
    by_seed = pd.DataFrame(
        {
            "seed": seeds[present // n_classes],
            "class": present % n_classes,
            "n_samples": counts[present],
            "accuracy": hits[present] / counts[present],
        }
    )
    by_seed.insert(2, "class_name", [class_names[c] for c in by_seed["class"]])
    across = by_seed.groupby("class")["accuracy"].agg(["mean", "std", "min", "max"])  # std: ddof=1
    across["n_samples"] = by_seed.groupby("class")["n_samples"].max()
    across = across.reset_index()
    across.insert(1, "class_name", [class_names[c] for c in across["class"]])
    return by_seed, across


def probability_cube(frame: pd.DataFrame, probs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Over the sample ids every seed scored: probabilities (seeds, samples, classes), votes, ids, labels."""
    seeds = np.unique(frame["seed"].to_numpy())
    ids, counts = np.unique(frame["sample_id"].to_numpy(), return_counts=True)
    common_ids = ids[counts == len(seeds)]
    if common_ids.size == 0:
        raise DataError("the seeds' predictions share no sample_id: no ensemble can be formed")
    if common_ids.size < ids.size:  # a copy only when some seed missed some samples
        keep = frame["sample_id"].isin(common_ids).to_numpy()
        frame, probs = frame[keep], probs[keep]
    shape = (len(seeds), common_ids.size)
    labels = frame["label"].to_numpy()[: common_ids.size]
    votes = frame["prediction"].to_numpy().reshape(shape)
    return probs.reshape(*shape, -1), votes, common_ids, labels


def majority_vote(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """Per sample, the class most seeds predicted; ties go to the lowest class index (argmax's first)."""
    counts = np.stack([(votes == c).sum(axis=0) for c in range(n_classes)], axis=1)
    return counts.argmax(axis=1)


def confusion(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def compute_statistics(
    predictions: Any,
    metrics: dict[int, SeedMetrics | None],
    run_id: str,
    failed_seeds: Sequence[int] = (),
    class_names: Sequence[str] = CLASS_NAMES,
) -> RunStatistics:
    """The whole summary of one run from its predictions and each seed's metrics.json."""
    names = list(class_names)
    frame, probs = to_frame(predictions, len(names))
    per_seed = per_seed_frame(frame, metrics, run_id)
    by_seed, across = per_class_tables(frame, names)
    cube, votes, sample_ids, labels = probability_cube(frame, probs)
    ensemble = cube.mean(axis=0, dtype=np.float64).argmax(axis=1)
    majority = majority_vote(votes, len(names))
    ens_class = pd.Series(ensemble == labels).groupby(labels).mean()
    across["ensemble_accuracy"] = across["class"].map(ens_class)
    seeds = tuple(int(s) for s in per_seed["seed"])
    matrix = pairwise.pairwise(votes, len(names))
    per_seed["mean_disagreement"] = pairwise.per_seed_mean(matrix)
    summary = RunSummary(
        run_id=run_id,
        seeds=seeds,
        n_seeds=len(seeds),
        class_names=tuple(names),
        across_seeds=spread(per_seed["test_accuracy"].tolist(), ACCURACY_BOUNDS),
        train_seconds=spread(per_seed["train_seconds"].dropna().tolist(), (0.0, None)),
        per_seed=tuple(SeedRow(**row) for row in clean(per_seed.to_dict(orient="records"))),
        per_class=tuple(_class_row(row) for row in clean(across.to_dict(orient="records"))),
        ensemble=Ensemble(float(np.mean(ensemble == labels)), int(sample_ids.size), ENSEMBLE_METHOD),
        majority_vote=MajorityVote(float(np.mean(majority == labels)), TIE_BREAK),
        disagreement=pairwise.describe_pairs(matrix, seeds),
        confusion_matrix=_tuples(confusion(labels, ensemble, len(names))),
        failed_seeds=tuple(sorted(int(s) for s in failed_seeds)),
    )
    samples = pd.DataFrame(
        {"sample_id": sample_ids, "label": labels} | {"ensemble": ensemble, "majority_vote": majority}
    )
    return RunStatistics(summary, per_seed, by_seed, samples, matrix)


def _class_row(row: dict[str, Any]) -> ClassRow:
    """A per-class record of the across-seeds frame as its typed row ("class" is a Python keyword)."""
    return ClassRow(class_index=row.pop("class"), **row)


def _tuples(matrix: np.ndarray) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(v) for v in row) for row in matrix)
