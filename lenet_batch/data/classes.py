"""Fashion-MNIST's ten classes, and the check that labels name one of them."""

import numpy as np

from lenet_batch.errors import DataError

CLASS_NAMES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)


def check_label_range(labels: np.ndarray, name: str, first: int = 0, position: str = "at index") -> None:
    """Every label is a class 0-9; else a DataError naming the first bad one ('label 12 of sample 3')."""
    bad_mask = (labels < 0) | (labels >= NUM_CLASSES)
    if labels.size and bad_mask.any():
        bad = int(np.argmax(bad_mask))
        raise DataError(
            f"{name}: label {int(labels[bad])} {position} {first + bad} is outside 0-{NUM_CLASSES - 1}"
        )
