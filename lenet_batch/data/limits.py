"""Smoke-sized data: a deterministic, class-balanced subset of a split (--train-limit, --test-limit).

The subset of N images takes the first N // 10 images of each class in file order (the first N % 10
classes, by class index, take one more), and keeps them in file order. The same files and limits give the
same images on every machine, so the limits are part of the run's recorded data identity (DataInfo).
"""

import dataclasses

import numpy as np

from lenet_batch.config import DataRequest
from lenet_batch.data.classes import CLASS_NAMES, NUM_CLASSES
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.errors import ConfigError, DataError
from lenet_batch.records import DataInfo

FLAGS = {"train": "--train-limit", "test": "--test-limit"}


def quotas(limit: int) -> list[int]:
    """How many images of each class a subset of `limit` images takes."""
    base, extra = divmod(limit, NUM_CLASSES)
    return [base + (1 if c < extra else 0) for c in range(NUM_CLASSES)]


def balanced_indices(labels: np.ndarray, limit: int, split: str) -> np.ndarray:
    """Indices of the subset, in file order; DataError when the split is too small for the limit."""
    flag = FLAGS.get(split, f"{split} limit")
    if limit > len(labels):
        raise DataError(f"{flag} {limit}: the {split} split has only {len(labels):,} images")
    chosen = []
    for c, quota in enumerate(quotas(limit)):
        where = np.flatnonzero(labels == c)
        if len(where) < quota:
            raise DataError(
                f"{flag} {limit}: class {CLASS_NAMES[c]!r} has {len(where)} image(s) in the {split} split, "
                f"the subset needs {quota} of each class"
            )
        chosen.append(where[:quota])
    return np.sort(np.concatenate(chosen))


def limited(dataset: FashionMNIST, train_limit: int | None, test_limit: int | None) -> FashionMNIST:
    """The dataset with its splits cut to their limits (None: the whole split), the limits recorded."""
    if train_limit is None and test_limit is None:
        return dataset
    arrays = dataset.arrays()
    for split, limit in (("train", train_limit), ("test", test_limit)):
        if limit is not None:
            keep = balanced_indices(arrays[f"{split}_labels"], limit, split)
            arrays[f"{split}_images"] = arrays[f"{split}_images"][keep]
            arrays[f"{split}_labels"] = arrays[f"{split}_labels"][keep]
    return dataclasses.replace(dataset, **arrays, train_limit=train_limit, test_limit=test_limit)


def _subset_text(limit: int | None) -> str:
    return "the whole test split" if limit is None else f"--test-limit {limit}"


def evaluation_limits(request: DataRequest, recorded: DataInfo | None, run_id: str) -> DataRequest:
    """The data to score a run's evaluation with: the test subset the run recorded unless one is given, and
    then only that one (ConfigError, exit 2, nothing written: other test images would change the meaning of
    its numbers; `infer --input` scores other images)."""
    if recorded is None:
        return request
    if request.test_limit is not None and request.test_limit != recorded.test_limit:
        raise ConfigError(
            f"run {run_id} was trained and evaluated on {_subset_text(recorded.test_limit)}; scoring its "
            f"evaluation on {_subset_text(request.test_limit)} is refused. Score other images with `infer "
            "--input`, or use a new --run-id. Nothing was written"
        )
    return dataclasses.replace(request, train_limit=recorded.train_limit, test_limit=recorded.test_limit)
