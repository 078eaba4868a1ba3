"""The predictions as the summary computes on them: a pandas frame of the small columns and a float32 array
of the probabilities, labelled rows only, in (seed, sample_id) order, checked against the class list."""

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lenet_batch.data.classes import CLASS_NAMES
from lenet_batch.errors import DataError

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
    rows = np.flatnonzero(keep)
    rows = rows[np.lexsort((frame["sample_id"].to_numpy()[rows], frame["seed"].to_numpy()[rows]))]
    # Committed partitions come back labelled and in (seed, sample_id) order: then nothing is copied.
    if rows.size < len(frame) or np.any(np.diff(rows) < 0):
        frame, probs = frame.iloc[rows].reset_index(drop=True), probs[rows]
    frame = frame.astype({c: "int64" for c in PREDICTION_COLUMNS[:-1]}, copy=False)
    same = (np.diff(frame["seed"].to_numpy()) == 0) & (np.diff(frame["sample_id"].to_numpy()) == 0)
    if same.any():
        raise DataError("predictions hold the same (seed, sample_id) more than once")
    return frame, probs


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
