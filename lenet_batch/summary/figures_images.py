"""Figures whose size does not depend on the number of seeds: per class, confusion matrix, image grids."""

import logging
import math
import textwrap
from collections.abc import Sequence

import numpy as np

from lenet_batch.data.classes import CLASS_NAMES
from lenet_batch.summary.plotting import SQUARE, WIDE, png, pyplot
from lenet_batch.summary.types import MIN_INTERVAL_SEEDS, ClassRow

log = logging.getLogger(__name__)

GRID_COLUMNS = 9  # the seed article shows 18 images as 2 rows of 9
MAX_GRID_IMAGES = 90  # 10 full rows of 9: beyond, a picture is too tall to read


def per_class_png(per_class: Sequence[ClassRow], n_seeds: int | None = None) -> bytes:
    """Per class: the mean accuracy with std error bars (from MIN_INTERVAL_SEEDS seeds), the min-max range,
    and the ensemble's accuracy."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    x = np.arange(len(per_class))
    mean = np.array([r.mean for r in per_class], dtype=float)
    std = np.array([r.std if r.std is not None else 0.0 for r in per_class], dtype=float)
    # Points, not bars: bars from zero would flatten the spread between seeds that this figure is for.
    ax.vlines(x, [r.min for r in per_class], [r.max for r in per_class], color="0.6", lw=6, label="min-max")
    if n_seeds is not None and n_seeds < MIN_INTERVAL_SEEDS:  # a std of 2 seeds is no error bar to read
        ax.plot(x, mean, "o", color="C0", label="mean (too few seeds for error bars)")
    else:
        # An accuracy lies in [0, 1]: the std bars are cut at the bounds.
        yerr = np.vstack([np.minimum(std, mean), np.minimum(std, 1.0 - mean)])
        ax.errorbar(x, mean, yerr=yerr, fmt="o", color="C0", capsize=4, label="mean ± std (within [0, 1])")
    ensemble = [r.ensemble_accuracy for r in per_class]
    ax.plot(x, [np.nan if e is None else e for e in ensemble], "x", color="C2", label="ensemble")
    ax.set_xticks(x, [r.class_name for r in per_class], rotation=30, ha="right")
    ax.set(ylabel="test accuracy", title="Per-class accuracy across seeds")
    low, high = ax.get_ylim()
    ax.set_ylim(max(low, -0.02), min(high, 1.02))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside: never on a class
    return png(fig)


def confusion_png(matrix: Sequence[Sequence[int]], class_names: Sequence[str] = CLASS_NAMES) -> bytes:
    """The ensemble's confusion matrix: counts, coloured by the share of each true class."""
    plt = pyplot()
    counts = np.asarray(matrix, dtype=np.int64)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)  # rows with no samples stay blank
    fig, ax = plt.subplots(figsize=SQUARE, layout="constrained")
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(counts):
        if n:
            colour = "white" if share[i, j] > 0.5 else "black"
            ax.text(j, i, str(n), ha="center", va="center", fontsize=7, color=colour)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="true", title="Ensemble confusion matrix")
    fig.colorbar(image, ax=ax, label="share of the true class")
    return png(fig)


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) for n images: at most GRID_COLUMNS wide, rows as evenly filled as they can be."""
    if n <= 0:
        return 1, 1
    rows = math.ceil(n / GRID_COLUMNS)
    return rows, math.ceil(n / rows)


def _capped(n: int, what: str) -> int:
    """How many of n images a picture shows, with a warning when that is fewer than asked for."""
    if n > MAX_GRID_IMAGES:
        log.warning(
            "the picture shows the first %d of the %d %s (the most one picture holds)",
            MAX_GRID_IMAGES,
            n,
            what,
        )
    return min(n, MAX_GRID_IMAGES)


def _image_grid(images: np.ndarray, titles: Sequence[str], colors: Sequence[str], heading: str) -> bytes:
    """Grayscale images on a grid that fits their number, each with its title (as d2l's show_images).

    One axes holds every image at its own place: an axes per image costs a layout pass each, which made
    a picture of 18 images take seconds to draw.
    """
    plt = pyplot()
    rows, cols = grid_shape(len(images))
    size = images.shape[1] if len(images) else 28
    cell_w, cell_h = size + 6, size + 17  # room between images, and for a two-line title above each
    width = max(1.2 * cols, 4.0)  # inches: 1.2 per image, and room for the heading of a single one
    lines = textwrap.wrap(heading if len(images) else f"{heading}: no images", int(width * 14))
    head = 0.15 + 0.15 * len(lines)  # inches for the heading's lines
    fig = plt.figure(figsize=(width, 1.6 * rows + head))
    fig.suptitle("\n".join(lines), fontsize=9)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.6 * rows / (1.6 * rows + head)))
    span = width / 1.2 * cell_w
    margin = (span - cols * cell_w) / 2  # centres the images when the heading made the figure wider
    ax.set_xlim(-margin, span - margin)
    ax.set_ylim(rows * cell_h, 0)
    ax.axis("off")
    for k, image in enumerate(images):
        x, y = (k % cols) * cell_w + 3, (k // cols) * cell_h + 15
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, extent=(x, x + size, y + size, y))
        ax.text(x + size / 2, y - 1, titles[k], ha="center", va="bottom", fontsize=8, color=colors[k])
    ax.set_aspect("auto")  # the cells were sized for square pixels; keep the axes where they were put
    return png(fig)


def train_images_png(
    images: np.ndarray, labels: np.ndarray, class_names: Sequence[str] = CLASS_NAMES
) -> bytes:
    """The training images given (uint8, N x 28 x 28, at most MAX_GRID_IMAGES) with their class names."""
    n = _capped(min(len(images), len(labels)), "training images")
    titles = [class_names[int(c)] for c in labels[:n]]
    return _image_grid(np.asarray(images[:n]), titles, ["black"] * n, "Training images and their classes")


def test_predictions_png(
    images: np.ndarray, labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str] = CLASS_NAMES
) -> bytes:
    """The test images given titled 'true / predicted' (at most MAX_GRID_IMAGES), red where wrong."""
    n = _capped(min(len(images), len(labels), len(predictions)), "test images")
    pairs = [(int(t), int(p)) for t, p in zip(labels[:n], predictions[:n], strict=True)]
    titles = [f"{class_names[t]}\n{class_names[p]}" for t, p in pairs]
    colors = ["black" if t == p else "red" for t, p in pairs]
    heading = "Test images: true class (top) / prediction (bottom), red when wrong"
    return _image_grid(np.asarray(images[:n]), titles, colors, heading)
