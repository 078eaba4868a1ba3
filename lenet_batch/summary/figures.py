"""The summary's figures, each as PNG bytes with a caption that says what to look at (the front door)."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lenet_batch.store.seed_records import SeedMetrics
from lenet_batch.summary import figures_seeds as seeds_fig
from lenet_batch.summary.figures_images import (
    confusion_png,
    grid_shape,
    per_class_png,
    test_predictions_png,
    train_images_png,
)
from lenet_batch.summary.plotting import png
from lenet_batch.summary.report import clipped_text
from lenet_batch.summary.types import MIN_INTERVAL_SEEDS, RunSummary, SeedRow, Spread

__all__ = [
    "FIGURE_FILES",
    "Figure",
    "draw_run_figures",
    "confusion_png",
    "disagreement_png",
    "grid_shape",
    "per_class_png",
    "seed_accuracy_png",
    "test_predictions_png",
    "train_images_png",
    "training_curves_png",
]

# Every figure file the summary may write, in the order the report shows them.
FIGURE_FILES = (
    "seed_accuracy.png",
    "training_curves.png",
    "per_class_accuracy.png",
    "confusion_matrix.png",
    "disagreement.png",
    "train_images.png",
    "test_predictions.png",
)


@dataclass(frozen=True)
class Figure:
    """A drawn figure: its PNG bytes and the caption the report puts under it."""

    png: bytes
    caption: str


def seed_accuracy_png(per_seed: Sequence[SeedRow], accuracy: Spread, ensemble: float | None) -> bytes:
    """Test accuracy per seed (points up to 20 seeds, else their distribution), mean, CI, ensemble."""
    return png(seeds_fig.seed_accuracy_figure(per_seed, accuracy, ensemble))


def training_curves_png(metrics: dict[int, SeedMetrics | None]) -> bytes:
    """Loss and accuracy per epoch (a line per seed up to 10 seeds, else median and bands)."""
    return png(seeds_fig.training_curves_figure(metrics))


def disagreement_png(matrix: np.ndarray, seeds: Sequence[int], n_samples: int | None = None) -> bytes:
    """Pairwise disagreement between seeds (heatmap up to 50 seeds, else a histogram over pairs)."""
    return png(seeds_fig.disagreement_figure(matrix, seeds, n_samples))


def _seed_caption(summary: RunSummary) -> str:
    n = summary.n_seeds
    worst, best = seeds_fig.extremes(summary.per_seed, 1)
    span = f"seed {worst[0].seed} is the worst at {worst[0].test_accuracy:.4f}, seed {best[0].seed} "
    span += f"the best at {best[0].test_accuracy:.4f}."
    if n == 1:
        return "Test accuracy of the single seed and the ensemble (here the same model)."
    if n < MIN_INTERVAL_SEEDS:
        return (
            f"Test accuracy of each of {n} seeds (points), their mean (line) and the ensemble (dashed); "
            f"too few seeds for an interval, so no band. Look at how far the two seeds lie apart: {span}"
        )
    if n <= seeds_fig.PER_SEED_MAX:
        ci, clipped = summary.across_seeds.interval(), ""
        if ci is not None and summary.across_seeds.ci95_clipped:
            clipped = f", {clipped_text(ci.low, ci.high)}"
        return (
            f"Test accuracy of each of {n} seeds (points), their mean (line) with its 95% confidence "
            f"interval (band{clipped}) and the ensemble (dashed). Look at how far single seeds stray from "
            f"the mean: {span}"
        )
    return (
        f"How the test accuracy of {n} seeds is distributed (bars; a tick below for each seed), with the "
        "mean, its 95% confidence interval and the ensemble. Look at the width of the bars, what one "
        f"training run may give, against the narrow CI of the mean: {span} The 5 worst and best are "
        "listed right."
    )


def _curves_caption(metrics: dict[int, SeedMetrics | None]) -> str:
    epochs = max((len(m.epochs) for m in metrics.values() if m is not None), default=0)
    n = sum(m is not None for m in metrics.values())
    if epochs == 0:
        return "No seed has a metrics.json: there are no training curves to show."
    one = " With one epoch each series is a single point." if epochs == 1 else ""
    if epochs == 1 and n <= seeds_fig.CURVE_LINES_MAX:
        return (
            "Training loss and accuracy after the run's only epoch, one colour per seed (o: test accuracy, "
            "x: train accuracy). With one epoch there are no curves: look for a seed far from the others, "
            "and for a test accuracy far below its train accuracy."
        )
    if n <= seeds_fig.CURVE_LINES_MAX:
        look = "Look for a seed whose curves leave the others, and for test accuracy falling while train "
        return f"Training loss and accuracy per epoch, one colour per seed. {look}accuracy rises.{one}"
    return (
        f"The median over {n} seeds per epoch, with the 10-90% band (darker) and min-max (lighter). Look at "
        f"the width of the band at the last epoch and whether the median test accuracy still climbs.{one}"
    )


def _class_caption(summary: RunSummary) -> str:
    weakest = min(summary.per_class, key=lambda r: r.mean)
    widest = max(summary.per_class, key=lambda r: r.max - r.min)
    bars = "mean ± std" if summary.n_seeds >= MIN_INTERVAL_SEEDS else "mean (too few seeds for error bars)"
    return (
        f"Per-class test accuracy: {bars} across seeds, min-max (grey) and the ensemble (x). Look at the "
        f"weakest class, here {weakest.class_name} ({weakest.mean:.4f}), and at the class whose seeds "
        f"differ most, here {widest.class_name} ({widest.min:.4f} to {widest.max:.4f})."
    )


def _confusion_caption(summary: RunSummary) -> str:
    counts = np.array(summary.confusion_matrix)
    np.fill_diagonal(counts, 0)
    names = summary.class_names
    i, j = np.unravel_index(int(counts.argmax()), counts.shape)
    common = f"{names[i]} taken for {names[j]}, {counts[i, j]} times" if counts.any() else "none here"
    return (
        "The ensemble's predictions against the true classes, coloured by the share of each true class. "
        f"Look off the diagonal: the darkest cell is the most common confusion ({common})."
    )


def _disagreement_caption(summary: RunSummary) -> str:
    d = summary.disagreement
    pair = d.most_different_pair
    most = f"seeds {pair.seeds[0]} and {pair.seeds[1]} differ on {pair.disagreement:.4f}" if pair else "none"
    if summary.n_seeds <= seeds_fig.HEATMAP_MAX:
        return (
            "The share of test samples on which two seeds predict different classes, coloured on a fixed "
            "scale from 0 (light: always agree) to 1 (dark: always differ), the same on every night. Look "
            f"for a row darker than the rest, a seed unlike all others; the most different pair: {most}."
        )
    return (
        f"Pairwise disagreement over all {d.n_pairs:,} pairs of seeds (median {d.median:.4f}). Look at "
        f"the right tail, pairs that differ far more than the rest; the most different: {most}. "
        "Every pair is in disagreement.parquet."
    )


def _drawn(
    summary: RunSummary, metrics: dict[int, SeedMetrics | None], matrix: np.ndarray | None
) -> dict[str, Figure]:
    """The figures every summary has (disagreement: from two seeds on)."""
    accuracy = seed_accuracy_png(summary.per_seed, summary.across_seeds, summary.ensemble.accuracy)
    confusion = confusion_png(summary.confusion_matrix, summary.class_names)
    drawn = {
        "seed_accuracy.png": Figure(accuracy, _seed_caption(summary)),
        "training_curves.png": Figure(training_curves_png(metrics), _curves_caption(metrics)),
        "per_class_accuracy.png": Figure(
            per_class_png(summary.per_class, summary.n_seeds), _class_caption(summary)
        ),
        "confusion_matrix.png": Figure(confusion, _confusion_caption(summary)),
    }
    if matrix is not None and len(matrix) >= 2:
        drawn["disagreement.png"] = Figure(
            disagreement_png(matrix, summary.seeds, summary.ensemble.n_samples),
            _disagreement_caption(summary),
        )
    return drawn


def draw_run_figures(
    summary: RunSummary,
    metrics: dict[int, SeedMetrics | None],
    matrix: np.ndarray | None = None,
    images: dict[str, np.ndarray] | None = None,
    test_predictions: np.ndarray | None = None,
) -> dict[str, Figure]:
    """Every figure of one run as file name -> Figure, in report order; the article's pictures need images."""
    figures = _drawn(summary, metrics, matrix)
    names, images = summary.class_names, images or {}
    if "train_images" in images and "train_labels" in images:
        figures["train_images.png"] = Figure(
            train_images_png(images["train_images"], images["train_labels"], names),
            "The first training images with their classes: a check that images and labels line up.",
        )
    if "test_images" in images and "test_labels" in images and test_predictions is not None:
        figures["test_predictions.png"] = Figure(
            test_predictions_png(images["test_images"], images["test_labels"], test_predictions, names),
            "The first test images: true class over the ensemble's prediction, red where it is wrong.",
        )
    return {name: figures[name] for name in FIGURE_FILES if name in figures}
