"""Fashion-MNIST's ten classes, the check that labels name one of them, and the accuracy of guessing."""

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
CHANCE_MARGIN = 0.02  # a seed within 2 points of guessing after its last epoch did not learn


def chance_line(n_classes: int = NUM_CLASSES) -> float:
    """The test accuracy at or below which a trained seed did not learn: chance plus CHANCE_MARGIN."""
    return round(1 / n_classes + CHANCE_MARGIN, 9)  # 0.12, not 0.12000000000000001


DIVERGED_ACCURACY = chance_line()  # 0.12 for Fashion-MNIST's 10 classes: such a seed counts as diverged


def check_label_range(labels: np.ndarray, name: str, first: int = 0, position: str = "at index") -> None:
    """Every label is a class 0-9; else a DataError naming the first bad one ('label 12 of sample 3')."""
    bad_mask = (labels < 0) | (labels >= NUM_CLASSES)
    if labels.size and bad_mask.any():
        bad = int(np.argmax(bad_mask))
        raise DataError(
            f"{name}: label {int(labels[bad])} {position} {first + bad} is outside 0-{NUM_CLASSES - 1}"
        )
