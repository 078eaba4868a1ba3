"""Statistics across the seeds of one run, from its predictions and per-epoch metrics (pure: no I/O)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from lenet_batch.data.classes import CLASS_NAMES
from lenet_batch.errors import DataError
from lenet_batch.store.seed_records import SeedMetrics
from lenet_batch.summary import disagreement as pairwise

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
    disagreement_matrix: np.ndarray | None = None  # seeds x seeds, always in full (JSON: up to a size)

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


PREDICTION_COLUMNS = ("seed", "sample_id", "label", "prediction", "probabilities")


def _probability_lengths(column: Any) -> np.ndarray:
    """The length of each row's probability vector (an Arrow list column or a pandas column of sequences)."""
    if isinstance(column, pa.ChunkedArray | pa.Array):
        return pc.list_value_length(column).to_numpy(zero_copy_only=False)
    return column.map(len).to_numpy()


def _probability_rows(column: Any, n_classes: int) -> np.ndarray:
    """(rows, classes) float32; from Arrow without a Python object per row (millions of rows at scale)."""
    if isinstance(column, pa.ChunkedArray | pa.Array):
        flat = pc.list_flatten(column).to_numpy(zero_copy_only=False)
        return flat.astype(np.float32, copy=False).reshape(-1, n_classes)
    return np.stack(column.to_numpy()).astype(np.float32).reshape(-1, n_classes)


def to_frame(predictions: Any, n_classes: int = len(CLASS_NAMES)) -> tuple[pd.DataFrame, np.ndarray]:
    """The labelled predictions sorted by (seed, sample_id), and their probabilities as a float32 array."""
    is_arrow = isinstance(predictions, pa.Table)
    names = predictions.column_names if is_arrow else list(pd.DataFrame(predictions).columns)
    missing = set(PREDICTION_COLUMNS) - set(names)
    if missing:
        raise DataError(f"predictions lack the columns {sorted(missing)}")
    if is_arrow:
        frame = predictions.select(list(PREDICTION_COLUMNS[:-1])).to_pandas()
        probs = predictions.column("probabilities")
    else:
        frame = pd.DataFrame(predictions)[list(PREDICTION_COLUMNS[:-1])].reset_index(drop=True)
        probs = pd.DataFrame(predictions)["probabilities"].reset_index(drop=True)
    check_classes(frame, _probability_lengths(probs), n_classes)
    probs = _probability_rows(probs, n_classes)
    keep = frame["label"].notna().to_numpy()  # images scored without a label cannot count towards accuracy
    if not keep.any():
        raise DataError("predictions have no labelled rows: accuracy cannot be computed")
    frame = frame[keep].astype({c: "int64" for c in PREDICTION_COLUMNS[:-1]})
    order = np.lexsort((frame["sample_id"].to_numpy(), frame["seed"].to_numpy()))
    frame, probs = frame.iloc[order].reset_index(drop=True), probs[keep][order]
    same = (np.diff(frame["seed"].to_numpy()) == 0) & (np.diff(frame["sample_id"].to_numpy()) == 0)
    if same.any():
        raise DataError("predictions hold the same (seed, sample_id) more than once")
    return frame, probs


TRAINING_COLUMNS = (
    "metrics_test_accuracy",
    "final_train_loss",
    "final_train_accuracy",
    "train_seconds",
    "epochs",
    "attempts",
    "hosts",
)


def seed_hosts(attempts: Sequence[dict[str, Any]]) -> str | None:
    """The hosts a seed's attempts ran on, in order and without repeats, comma-separated."""
    hosts = [str(a["host"]) for a in attempts if isinstance(a, dict) and a.get("host")]
    return ", ".join(dict.fromkeys(hosts)) or None


def _training_columns(m: SeedMetrics | None) -> dict[str, Any]:
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
        "hosts": seed_hosts(m.attempts),
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
    return table.astype({c: "float64" for c in floats} | {"epochs": "Int64", "attempts": "Int64"})


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


def check_classes(frame: pd.DataFrame, lengths: np.ndarray, n_classes: int) -> None:
    """Labels, predictions and probability vectors must fit the class list."""
    label, prediction = frame["label"], frame["prediction"]
    bad = (label.notna() & ~label.between(0, n_classes - 1)) | ~prediction.between(0, n_classes - 1)
    if bad.any():
        raise DataError(
            f"{int(bad.sum())} prediction rows have a label or prediction outside 0..{n_classes - 1}"
        )
    if (lengths != n_classes).any():
        raise DataError(f"probabilities must hold {n_classes} values per row; found {sorted(set(lengths))}")


def majority_vote(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """Per sample, the class most seeds predicted; ties go to the lowest class index (argmax's first)."""
    counts = np.stack([(votes == c).sum(axis=0) for c in range(n_classes)], axis=1)
    return counts.argmax(axis=1)


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
    names = list(class_names)
    frame, probs = to_frame(predictions, len(names))
    per_seed = per_seed_table(frame, metrics, run_id)
    by_seed, across = per_class_tables(frame, names)
    cube, votes, sample_ids, labels = probability_cube(frame, probs)
    ensemble = cube.mean(axis=0, dtype=np.float64).argmax(axis=1)
    majority = majority_vote(votes, len(names))
    ens_class = pd.Series(ensemble == labels).groupby(labels).mean()
    across["ensemble_accuracy"] = across["class"].map(ens_class)
    seeds = [int(s) for s in per_seed["seed"]]
    matrix = pairwise.pairwise(votes, len(names))
    per_seed["mean_disagreement"] = pairwise.per_seed_mean(matrix)
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
        disagreement=pairwise.describe(matrix, seeds),
        confusion_matrix=confusion(labels, ensemble, len(names)).tolist(),
        failed_seeds=sorted(int(s) for s in failed_seeds),
        samples=pd.DataFrame(
            {"sample_id": sample_ids, "label": labels, "ensemble": ensemble, "majority_vote": majority}
        ),
        disagreement_matrix=matrix,
    )
