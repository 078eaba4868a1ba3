"""Statistics across the seeds of one run, from its predictions and per-epoch metrics (pure: no I/O)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from lenet_batch.data.classes import CLASS_NAMES
from lenet_batch.errors import DataError
from lenet_batch.store.seed_records import SeedMetrics

CI_LEVEL = 0.95
TIE_BREAK = "lowest class index"  # majority vote: a tie goes to the smallest class index among the tied


@dataclass
class Summary:
    """Everything the summary stage computed; `to_dict` is what summary.json holds."""

    run_id: str
    seeds: list[int]
    class_names: list[str]
    per_seed: pd.DataFrame  # one row per seed: accuracy from predictions, train metrics
    per_class_by_seed: pd.DataFrame  # one row per (seed, class)
    per_class: list[dict[str, Any]]  # one entry per class: mean, std, min, max across seeds, ensemble
    across_seeds: dict[str, Any]  # describe() of the per-seed test accuracies
    train_seconds: dict[str, Any]
    ensemble: dict[str, Any]
    majority_vote: dict[str, Any]
    disagreement: dict[str, Any]
    confusion_matrix: list[list[int]]  # rows: true class, columns: ensemble prediction
    failed_seeds: list[int] = field(default_factory=list)
    samples: pd.DataFrame | None = None  # per sample: label, ensemble and majority predictions (not in JSON)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes None, numpy scalars become Python numbers)."""
        return clean(
            {
                "run_id": self.run_id,
                "seeds": self.seeds,
                "n_seeds": len(self.seeds),
                "class_names": self.class_names,
                "failed_seeds": self.failed_seeds,
                "across_seeds": self.across_seeds,
                "train_seconds": self.train_seconds,
                "per_seed": self.per_seed.to_dict(orient="records"),
                "per_class": self.per_class,
                "ensemble": self.ensemble,
                "majority_vote": self.majority_vote,
                "disagreement": self.disagreement,
                "confusion_matrix": self.confusion_matrix,
            }
        )


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


def describe(values: Sequence[float]) -> dict[str, Any]:
    """n_seeds, mean, std (ddof=1), min, max and the 95% t-interval ci95 (std and CI: None below 2 values)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    out: dict[str, Any] = {
        "n_seeds": int(x.size),
        "mean": None,
        "std": None,
        "min": None,
        "max": None,
        "ci95": None,
    }
    if x.size == 0:
        return out
    out.update(mean=float(x.mean()), min=float(x.min()), max=float(x.max()))
    if x.size >= 2:
        std = float(x.std(ddof=1))
        half = float(stats.t.ppf(0.5 + CI_LEVEL / 2, x.size - 1)) * std / math.sqrt(x.size)
        out.update(std=std, ci95=[out["mean"] - half, out["mean"] + half])
    return out


def to_frame(predictions: Any) -> pd.DataFrame:
    """A pandas frame of the labelled predictions (accepts a pyarrow Table or a DataFrame)."""
    frame = predictions.to_pandas() if hasattr(predictions, "to_pandas") else pd.DataFrame(predictions)
    missing = {"seed", "sample_id", "label", "prediction", "probabilities"} - set(frame.columns)
    if missing:
        raise DataError(f"predictions lack the columns {sorted(missing)}")
    frame = frame[frame["label"].notna()]  # images scored without a label cannot count towards accuracy
    if frame.empty:
        raise DataError("predictions have no labelled rows: accuracy cannot be computed")
    if frame.duplicated(["seed", "sample_id"]).any():
        raise DataError("predictions hold the same (seed, sample_id) more than once")
    frame = frame.astype({"seed": "int64", "sample_id": "int64", "label": "int64", "prediction": "int64"})
    return frame.sort_values(["seed", "sample_id"]).reset_index(drop=True)


def _training_columns(m: SeedMetrics | None) -> dict[str, Any]:
    """A seed's final training numbers (empty where it has no metrics.json)."""
    if m is None:
        return dict.fromkeys(
            ("metrics_test_accuracy", "final_train_loss", "final_train_accuracy", "train_seconds", "epochs")
        )
    last = m.epochs[-1]
    return {
        "metrics_test_accuracy": m.test_accuracy,
        "final_train_loss": last.train_loss,
        "final_train_accuracy": last.train_accuracy,
        "train_seconds": m.train_seconds,
        "epochs": len(m.epochs),
    }


def per_seed_table(frame: pd.DataFrame, metrics: dict[int, SeedMetrics | None], run_id: str) -> pd.DataFrame:
    """Per seed: test accuracy from the predictions; final train loss/accuracy and time from metrics."""
    rows = []
    for seed, group in frame.groupby("seed", sort=True):
        accuracy = float((group["prediction"] == group["label"]).mean())
        rows.append(
            {"run_id": run_id, "seed": int(seed), "n_samples": len(group), "test_accuracy": accuracy}
            | _training_columns(metrics.get(int(seed)))
        )
    table = pd.DataFrame(rows)
    floats = ["metrics_test_accuracy", "final_train_loss", "final_train_accuracy", "train_seconds"]
    return table.astype({c: "float64" for c in floats} | {"epochs": "Int64"})


def per_class_tables(frame: pd.DataFrame, class_names: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (seed, class) accuracy, and per class its mean, std (ddof=1), min and max across seeds."""
    hits = frame.assign(correct=frame["prediction"] == frame["label"])
    by_seed = hits.groupby(["seed", "label"]).agg(n_samples=("correct", "size"), accuracy=("correct", "mean"))
    by_seed = by_seed.reset_index().rename(columns={"label": "class"})
    by_seed.insert(2, "class_name", [class_names[c] for c in by_seed["class"]])
    across = by_seed.groupby("class")["accuracy"].agg(["mean", "std", "min", "max"])  # std: ddof=1
    across["n_samples"] = by_seed.groupby("class")["n_samples"].max()
    across = across.reset_index()
    across.insert(1, "class_name", [class_names[c] for c in across["class"]])
    return by_seed, across


def probability_cube(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Over the sample ids every seed scored: probabilities (seeds, samples, classes), votes, ids, labels."""
    seeds = np.sort(frame["seed"].unique())
    common = frame.groupby("sample_id")["seed"].nunique()
    common_ids = np.sort(common.index[common == len(seeds)].to_numpy())
    if common_ids.size == 0:
        raise DataError("the seeds' predictions share no sample_id: no ensemble can be formed")
    sub = frame[frame["sample_id"].isin(common_ids)]  # already sorted by seed, then sample_id
    probs = np.stack(sub["probabilities"].to_numpy()).astype(np.float64)
    labels = sub["label"].to_numpy()[: common_ids.size]
    votes = sub["prediction"].to_numpy().reshape(len(seeds), common_ids.size)
    return probs.reshape(len(seeds), common_ids.size, -1), votes, common_ids, labels


def check_classes(frame: pd.DataFrame, n_classes: int) -> None:
    """Labels, predictions and probability vectors must fit the class list."""
    bad = ~frame["label"].between(0, n_classes - 1) | ~frame["prediction"].between(0, n_classes - 1)
    if bad.any():
        raise DataError(
            f"{int(bad.sum())} prediction rows have a label or prediction outside 0..{n_classes - 1}"
        )
    lengths = frame["probabilities"].map(len)
    if (lengths != n_classes).any():
        raise DataError(f"probabilities must hold {n_classes} values per row; found {sorted(set(lengths))}")


def majority_vote(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """Per sample, the class most seeds predicted; ties go to the lowest class index (argmax's first)."""
    counts = np.zeros((votes.shape[1], n_classes), dtype=np.int64)
    for seed_votes in votes:
        counts[np.arange(votes.shape[1]), seed_votes] += 1
    return counts.argmax(axis=1)


def disagreement(votes: np.ndarray, seeds: Sequence[int]) -> dict[str, Any]:
    """Share of samples where two seeds predict differently: the matrix and the mean over pairs."""
    n = len(seeds)
    matrix = np.zeros((n, n))
    for i, j in combinations(range(n), 2):
        matrix[i, j] = matrix[j, i] = float(np.mean(votes[i] != votes[j]))
    pairs = [matrix[i, j] for i, j in combinations(range(n), 2)]
    return {"seeds": list(seeds), "matrix": matrix.tolist(), "mean": float(np.mean(pairs)) if pairs else None}


def confusion(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def summarize(
    predictions: Any,
    metrics: dict[int, SeedMetrics | None],
    run_id: str,
    failed_seeds: Sequence[int] = (),
    class_names: Sequence[str] = CLASS_NAMES,
) -> Summary:
    """The whole summary of one run from its predictions and each seed's metrics.json."""
    frame = to_frame(predictions)
    names = list(class_names)
    check_classes(frame, len(names))
    per_seed = per_seed_table(frame, metrics, run_id)
    by_seed, across = per_class_tables(frame, names)
    probs, votes, sample_ids, labels = probability_cube(frame)
    ensemble = probs.mean(axis=0).argmax(axis=1)
    majority = majority_vote(votes, len(names))
    ens_class = pd.Series(ensemble == labels).groupby(labels).mean()
    across["ensemble_accuracy"] = across["class"].map(ens_class)
    seeds = [int(s) for s in per_seed["seed"]]
    return Summary(
        run_id=run_id,
        seeds=seeds,
        class_names=names,
        per_seed=per_seed,
        per_class_by_seed=by_seed,
        per_class=across.to_dict(orient="records"),
        across_seeds=describe(per_seed["test_accuracy"].tolist()),
        train_seconds=describe(per_seed["train_seconds"].dropna().tolist()),
        ensemble={
            "accuracy": float(np.mean(ensemble == labels)),
            "n_samples": int(sample_ids.size),
            "method": "argmax of the mean probability across seeds, per sample_id",
        },
        majority_vote={"accuracy": float(np.mean(majority == labels)), "tie_break": TIE_BREAK},
        disagreement=disagreement(votes, seeds),
        confusion_matrix=confusion(labels, ensemble, len(names)).tolist(),
        failed_seeds=sorted(int(s) for s in failed_seeds),
        samples=pd.DataFrame(
            {"sample_id": sample_ids, "label": labels, "ensemble": ensemble, "majority_vote": majority}
        ),
    )
