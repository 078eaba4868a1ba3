"""A batch of images to score, and the checks every image source applies to its pixels and labels."""

from dataclasses import dataclass

import numpy as np

from lenet_batch.data.classes import check_label_range
from lenet_batch.errors import DataError, InputError

HEIGHT = WIDTH = 28
IMAGE_BYTES = HEIGHT * WIDTH


@dataclass(frozen=True)
class ImageBatch:
    """Consecutive images of one input: their positions, pixels and (when known) labels."""

    sample_ids: np.ndarray  # int64: position in the input
    images: np.ndarray  # uint8 (N, 28, 28)
    labels: np.ndarray | None  # uint8 (N,), or None when the input has no labels

    def __len__(self) -> int:
        return len(self.sample_ids)


def check_images(images: np.ndarray, name: str) -> None:
    """Images are uint8 of shape (N, 28, 28)."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (HEIGHT, WIDTH):
        raise DataError(
            f"{name}: images must be uint8 of shape (N, {HEIGHT}, {WIDTH}), got {images.dtype} {images.shape}"
        )


def check_labels(labels: np.ndarray, name: str, first_id: int = 0) -> None:
    """Labels are classes 0-9."""
    check_label_range(labels, name, first_id, position="of sample")


def check_not_empty(count: int, uri: str) -> None:
    """An input without images would replace predictions with nothing: refuse it."""
    if count == 0:
        raise InputError(f"{uri}: holds no images; nothing to score")
