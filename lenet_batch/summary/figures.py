"""Matplotlib figures of a run's summary, each returned as PNG bytes (written by the summary stage)."""

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from lenet_batch.data.classes import CLASS_NAMES
from lenet_batch.store.seed_records import SeedMetrics

DPI = 100
WIDE = (10.0, 4.0)  # inches: 1000 x 400 pixels at DPI
SQUARE = (7.0, 6.0)
GRID = (2, 9)  # the seed article shows 18 images as 2 rows of 9
# File name -> caption, in the order the report shows them.
FIGURES = {
    "training_curves.png": "Training loss and accuracy per epoch, every seed",
    "seed_accuracy.png": "Test accuracy per seed, with the mean and its 95% confidence interval",
    "per_class_accuracy.png": "Per-class test accuracy: mean and std across seeds, min-max, ensemble",
    "confusion_matrix.png": "Confusion matrix of the ensemble (mean probability across seeds)",
    "train_images.png": "The first training images and their classes",
    "test_predictions.png": "The first test images: true class / ensemble prediction (red when wrong)",
}


def _pyplot() -> Any:
    """pyplot on the Agg backend: batch jobs have no display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    """The figure as PNG bytes; the figure is closed so long runs do not accumulate them."""
    plt = _pyplot()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return buf.getvalue()


def training_curves_png(metrics: dict[int, SeedMetrics | None]) -> bytes:
    """Train loss (left) and train/test accuracy (right) per epoch for every seed."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=WIDE, layout="constrained")
    for seed, m in sorted(metrics.items()):
        epochs = m.epochs if m is not None else []
        x = [e.epoch for e in epochs]
        line = ax_loss.plot(x, [e.train_loss for e in epochs], marker=".", label=f"seed {seed}")[0]
        ax_acc.plot(x, [e.test_accuracy for e in epochs], marker=".", color=line.get_color())
        ax_acc.plot(x, [e.train_accuracy for e in epochs], linestyle="--", color=line.get_color())
    ax_loss.set(xlabel="epoch", ylabel="train loss", title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy (solid: test, dashed: train)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    if 0 < len(metrics) <= 12:  # beyond a dozen seeds a legend hides the curves
        ax_loss.legend(fontsize="small")
    return _png(fig)


def seed_accuracy_png(per_seed: Sequence[dict], accuracy: dict[str, Any], ensemble: float | None) -> bytes:
    """Each seed's test accuracy as a point, the mean as a line, the 95% CI as a band."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    seeds = [str(r["seed"]) for r in per_seed]
    ax.plot(seeds, [r["test_accuracy"] for r in per_seed], "o", color="C0", label="seed")
    if accuracy.get("mean") is not None:
        ax.axhline(accuracy["mean"], color="C0", label=f"mean {accuracy['mean']:.4f}")
    if accuracy.get("ci95") is not None:
        ax.axhspan(*accuracy["ci95"], color="C0", alpha=0.15, label="95% CI")
    if ensemble is not None:
        ax.axhline(ensemble, color="C2", linestyle="--", label=f"ensemble {ensemble:.4f}")
    ax.set(xlabel="seed", ylabel="test accuracy", title="Test accuracy per seed")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    return _png(fig)


def per_class_png(per_class: Sequence[dict]) -> bytes:
    """Per class: the mean accuracy with std error bars, the min-max range, and the ensemble's accuracy."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    x = np.arange(len(per_class))
    mean = np.array([r["mean"] for r in per_class], dtype=float)
    std = np.array([r["std"] if r.get("std") is not None else 0.0 for r in per_class], dtype=float)
    # Points, not bars: bars from zero would flatten the spread between seeds that this figure is for.
    ax.vlines(
        x, [r["min"] for r in per_class], [r["max"] for r in per_class], color="0.6", lw=6, label="min-max"
    )
    ax.errorbar(x, mean, yerr=std, fmt="o", color="C0", capsize=4, label="mean ± std")
    ensemble = [r.get("ensemble_accuracy") for r in per_class]
    ax.plot(x, [np.nan if e is None else e for e in ensemble], "x", color="C2", label="ensemble")
    ax.set_xticks(x, [r["class_name"] for r in per_class], rotation=30, ha="right")
    ax.set(ylabel="test accuracy", title="Per-class accuracy across seeds")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return _png(fig)


def confusion_png(matrix: Sequence[Sequence[int]], class_names: Sequence[str] = CLASS_NAMES) -> bytes:
    """The ensemble's confusion matrix: counts, coloured by the share of each true class."""
    plt = _pyplot()
    counts = np.asarray(matrix, dtype=np.int64)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)  # rows with no samples stay blank
    fig, ax = plt.subplots(figsize=SQUARE, layout="constrained")
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(counts):
        if n:
            ax.text(
                j,
                i,
                str(n),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="true", title="Ensemble confusion matrix")
    fig.colorbar(image, ax=ax, label="share of the true class")
    return _png(fig)


def _image_grid(images: np.ndarray, titles: Sequence[str], colors: Sequence[str], heading: str) -> bytes:
    """Grayscale images on a 2 x 9 grid, each with its title (as d2l's show_images)."""
    plt = _pyplot()
    rows, cols = GRID
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.6 * rows), layout="constrained")
    fig.suptitle(heading, fontsize=9)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(images):
            ax.imshow(images[k], cmap="gray", vmin=0, vmax=255)
            ax.set_title(titles[k], fontsize=8, color=colors[k])
    return _png(fig)


def train_images_png(
    images: np.ndarray, labels: np.ndarray, class_names: Sequence[str] = CLASS_NAMES
) -> bytes:
    """The first training images (uint8, N x 28 x 28) with their class names."""
    n = min(len(images), GRID[0] * GRID[1])
    titles = [class_names[int(c)] for c in labels[:n]]
    return _image_grid(np.asarray(images[:n]), titles, ["black"] * n, "Training images and their classes")


def test_predictions_png(
    images: np.ndarray, labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str] = CLASS_NAMES
) -> bytes:
    """The first test images titled 'true / predicted', red where the prediction is wrong."""
    n = min(len(images), len(predictions), GRID[0] * GRID[1])
    pairs = [(int(t), int(p)) for t, p in zip(labels[:n], predictions[:n], strict=True)]
    titles = [f"{class_names[t]}\n{class_names[p]}" for t, p in pairs]
    colors = ["black" if t == p else "red" for t, p in pairs]
    heading = "Test images: true class (top) / prediction (bottom), red when wrong"
    return _image_grid(np.asarray(images[:n]), titles, colors, heading)


def build_figures(
    summary: dict[str, Any],
    metrics: dict[int, SeedMetrics | None],
    images: dict[str, np.ndarray] | None = None,
    test_predictions: np.ndarray | None = None,
) -> dict[str, bytes]:
    """Every figure as file name -> PNG bytes; the article's pictures only when images are given."""
    names = summary["class_names"]
    figures = {
        "training_curves.png": training_curves_png(metrics),
        "seed_accuracy.png": seed_accuracy_png(
            summary["per_seed"], summary["across_seeds"], summary["ensemble"]["accuracy"]
        ),
        "per_class_accuracy.png": per_class_png(summary["per_class"]),
        "confusion_matrix.png": confusion_png(summary["confusion_matrix"], names),
    }
    images = images or {}
    if "train_images" in images and "train_labels" in images:
        figures["train_images.png"] = train_images_png(images["train_images"], images["train_labels"], names)
    if "test_images" in images and "test_labels" in images and test_predictions is not None:
        figures["test_predictions.png"] = test_predictions_png(
            images["test_images"], images["test_labels"], test_predictions, names
        )
    return figures
