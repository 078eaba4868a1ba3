"""Figures across seeds that change their form with the number of seeds, so 1 and 1,000 both read well.

- accuracy per seed: one point per seed up to PER_SEED_MAX seeds, else a histogram with the extremes named;
- training curves: one line per seed up to CURVE_LINES_MAX seeds, else the median with 10-90% and min-max;
- disagreement: a heatmap up to HEATMAP_MAX seeds (the matrix summary.json keeps), else a histogram of pairs.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from lenet_batch.store.seed_records import SeedMetrics
from lenet_batch.summary.disagreement import MATRIX_MAX_SEEDS
from lenet_batch.summary.plotting import SQUARE, WIDE, epoch_axis, pyplot
from lenet_batch.summary.types import SeedRow, Spread

PER_SEED_MAX = 20
CURVE_LINES_MAX = 10
HEATMAP_MAX = MATRIX_MAX_SEEDS
ANNOTATED_MAX = 10  # heatmap cells carry their value up to this many seeds
EXTREMES = 5  # the best and the worst seeds named beside a distribution
MAX_BINS = 40


def extremes(per_seed: Sequence[SeedRow], k: int = EXTREMES) -> tuple[list[SeedRow], list[SeedRow]]:
    """(worst k, best k) seeds by test accuracy, worst first and best first; ties go to the lower seed."""
    ranked = sorted(per_seed, key=lambda r: (r.test_accuracy, r.seed))
    best = sorted(per_seed, key=lambda r: (-r.test_accuracy, r.seed))
    return ranked[:k], best[:k]


def _reference_lines(ax: Any, accuracy: Spread, ensemble: float | None, vertical: bool) -> None:
    """The mean (C0), its 95% CI (a C0 band) and the ensemble (C2, dashed) across or along the axis."""
    line, span = (ax.axvline, ax.axvspan) if vertical else (ax.axhline, ax.axhspan)
    if accuracy.mean is not None:
        line(accuracy.mean, color="C0", label=f"mean {accuracy.mean:.4f}")
    ci = accuracy.interval()  # none below 3 seeds, whatever an older summary.json holds
    if ci is not None:  # an accuracy lies in [0, 1], so does the band drawn for its mean
        span(
            max(0.0, ci.low),
            min(1.0, ci.high),
            color="C0",
            alpha=0.15,
            label="95% CI of the mean",
            zorder=0,
        )
    if ensemble is not None:
        line(ensemble, color="C2", linestyle="--", label=f"ensemble {ensemble:.4f}")


def _per_seed_points(ax: Any, per_seed: Sequence[SeedRow]) -> None:
    """One point per seed, labelled with its seed id (rotated when there are many)."""
    seeds = [str(r.seed) for r in per_seed]
    # Above the mean and ensemble lines, which pass right through a single seed's point.
    ax.plot(seeds, [r.test_accuracy for r in per_seed], "o", color="C0", label="seed", zorder=3)
    if len(seeds) * (max(map(len, seeds), default=0) + 2) > 80:  # about 80 characters fit side by side
        ax.tick_params(axis="x", labelrotation=45)
    title = (
        "Test accuracy of the single seed"
        if len(seeds) == 1
        else f"Test accuracy of each of {len(seeds)} seeds"
    )
    ax.set(xlabel="seed", ylabel="test accuracy", title=title)


def _bins(values: np.ndarray, n_samples: int | None) -> np.ndarray:
    """Histogram edges about sqrt(seeds) many, each a whole number of steps of the 1/n accuracy grid.

    Accuracies over n samples are multiples of 1/n; bins holding unequal numbers of those steps alternate
    between tall and short bars that mean nothing.
    """
    target = min(MAX_BINS, max(10, int(np.sqrt(values.size))))
    lo, hi = float(values.min()), float(values.max())
    if not n_samples:
        return np.histogram_bin_edges(values, bins=target)
    step = 1.0 / n_samples
    width = step * max(1, int(np.ceil(round((hi - lo) / step) / target)))
    return np.arange(lo - step / 2, hi + width, width)


def _distribution(ax: Any, per_seed: Sequence[SeedRow]) -> None:
    """A histogram of the seeds' test accuracy, each seed as a tick below it."""
    values = np.array([r.test_accuracy for r in per_seed], dtype=float)
    n_samples = min((r.n_samples for r in per_seed if r.n_samples), default=None)
    ax.hist(values, bins=_bins(values, n_samples), color="#9ecae1", edgecolor="white", label="seeds")
    ax.plot(values, np.zeros_like(values), "|", color="0.25", markersize=10, alpha=0.5, clip_on=False)
    ax.set(xlabel="test accuracy", ylabel="number of seeds")
    ax.set_title(f"Test accuracy of {len(values)} seeds")


def _named_extremes(ax: Any, per_seed: Sequence[SeedRow]) -> None:
    """The worst and best seeds as text in their own panel."""
    worst, best = extremes(per_seed)
    lines = [f"worst {len(worst)}:"] + [f"  seed {r.seed:>5}  {r.test_accuracy:.4f}" for r in worst]
    lines += ["", f"best {len(best)}:"] + [f"  seed {r.seed:>5}  {r.test_accuracy:.4f}" for r in best]
    ax.axis("off")
    ax.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=9)


def _include(ax: Any, per_seed: Sequence[SeedRow], accuracy: Spread, ensemble: float | None) -> None:
    """Accuracy limits around every seed, the CI and the ensemble, with a margin: none sits on the frame."""
    ci = accuracy.ci95
    values = [r.test_accuracy for r in per_seed] + ([max(0.0, ci.low), min(1.0, ci.high)] if ci else [])
    values += [ensemble] if ensemble is not None else []
    lo, hi = min(values), max(values)
    pad = 0.06 * (hi - lo) or 0.005
    (ax.set_xlim if len(per_seed) > PER_SEED_MAX else ax.set_ylim)(max(-0.01, lo - pad), min(1.01, hi + pad))


def seed_accuracy_figure(per_seed: Sequence[SeedRow], accuracy: Spread, ensemble: float | None) -> Any:
    """Up to PER_SEED_MAX seeds a point per seed; beyond, their distribution and the extremes named."""
    plt = pyplot()
    if len(per_seed) <= PER_SEED_MAX:
        fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
        _per_seed_points(ax, per_seed)
        _reference_lines(ax, accuracy, ensemble, vertical=False)
        _include(ax, per_seed, accuracy, ensemble)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside: never on a point
    else:
        fig, (ax, side) = plt.subplots(
            1, 2, figsize=WIDE, layout="constrained", gridspec_kw={"width_ratios": [4, 1]}
        )
        _distribution(ax, per_seed)
        _reference_lines(ax, accuracy, ensemble, vertical=True)
        _include(ax, per_seed, accuracy, ensemble)
        ax.legend(fontsize="small", loc="upper left")
        _named_extremes(side, per_seed)
    ax.grid(alpha=0.3)
    return fig


def _curves(metrics: dict[int, SeedMetrics | None]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Epoch numbers and (seeds x epochs) arrays of loss and accuracies, NaN where a seed has no epoch."""
    runs = [m.epochs for _, m in sorted(metrics.items()) if m is not None]
    n = max((len(e) for e in runs), default=0)
    out = {k: np.full((len(runs), n), np.nan) for k in ("train_loss", "test_accuracy", "train_accuracy")}
    for i, epochs in enumerate(runs):
        for key, values in out.items():
            values[i, : len(epochs)] = [getattr(e, key) for e in epochs]
    return np.arange(1, n + 1), out


def _band(ax: Any, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, alpha: float, label: str) -> None:
    """A C0 band between lo and hi; at a single epoch, a thick vertical bar instead of an invisible area."""
    if len(x) == 1:
        ax.vlines(x, lo, hi, color="C0", alpha=alpha + 0.2, lw=14, label=label)
    else:
        ax.fill_between(x, lo, hi, color="C0", alpha=alpha, lw=0, label=label)


def _median_bands(ax: Any, x: np.ndarray, values: np.ndarray, marker: str, label: str = "") -> None:
    """The median over seeds with its 10-90% band and its min-max range."""
    qs = np.nanquantile(values, [0.0, 0.1, 0.5, 0.9, 1.0], axis=0)
    _band(ax, x, qs[0], qs[4], 0.12, "min-max")
    _band(ax, x, qs[1], qs[3], 0.3, "10-90%")
    ax.plot(x, qs[2], color="C0", marker=marker, label=f"{label}median of {len(values)} seeds")


def _curve_titles(one_epoch: bool, many: bool) -> tuple[str, str]:
    """The two panels' titles, saying what is drawn: lines per seed, medians, or one epoch's points."""
    if one_epoch:
        per_seed = "" if many else " (one point per seed)"
        accuracy = (
            "Test accuracy after 1 epoch (x: train median)"
            if many
            else "Accuracy after 1 epoch (o: test, x: train)"
        )
        return f"Training loss after 1 epoch{per_seed}", accuracy
    accuracy = "Test accuracy (train: dashed median)" if many else "Accuracy (solid: test, dashed: train)"
    return "Training loss", accuracy


def training_curves_figure(metrics: dict[int, SeedMetrics | None]) -> Any:
    """Train loss (left) and accuracy (right) per epoch: a line per seed, or the median and bands."""
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=WIDE, layout="constrained")
    x, curves = _curves(metrics)
    # One epoch has no line to draw: every series is a marker then, and the titles say so.
    one = len(x) == 1
    point, cross = ("o", "x") if one else (".", "")
    style = {"linestyle": "none"} if one else {}
    if len(curves["train_loss"]) <= CURVE_LINES_MAX:
        seeds = [s for s, m in sorted(metrics.items()) if m is not None]
        for i, seed in enumerate(seeds):
            line = ax_loss.plot(x, curves["train_loss"][i], marker=point, label=f"seed {seed}", **style)[0]
            ax_acc.plot(x, curves["test_accuracy"][i], marker=point, color=line.get_color(), **style)
            dashed = {"linestyle": "--", **style}
            ax_acc.plot(x, curves["train_accuracy"][i], marker=cross, color=line.get_color(), **dashed)
    else:
        point = "o" if one else ""
        _median_bands(ax_loss, x, curves["train_loss"], point)
        _median_bands(ax_acc, x, curves["test_accuracy"], point, "test, ")
        train = np.nanmedian(curves["train_accuracy"], axis=0)
        ax_acc.plot(x, train, color="C1", marker=cross, label="train, median", **{"linestyle": "--", **style})
        ax_acc.legend(fontsize="small", loc="best")
    loss_title, acc_title = _curve_titles(one, many=len(curves["train_loss"]) > CURVE_LINES_MAX)
    ax_loss.set(ylabel="train loss", title=loss_title)
    ax_acc.set(ylabel="accuracy", title=acc_title)
    for ax in (ax_loss, ax_acc):
        epoch_axis(ax, x.tolist() or [1])
        ax.grid(alpha=0.3)
    if len(x):
        ax_loss.legend(fontsize="small")
    return fig


def disagreement_figure(matrix: np.ndarray, seeds: Sequence[int], n_samples: int | None = None) -> Any:
    """A heatmap of pairwise disagreement up to HEATMAP_MAX seeds, else a histogram over the pairs."""
    plt = pyplot()
    n = len(seeds)
    if n <= HEATMAP_MAX:
        fig, ax = plt.subplots(figsize=SQUARE, layout="constrained")
        # One fixed scale, 0 to 1, so that a colour means the same share on every night (the diagonal, a
        # seed against itself, is left blank).
        pairs = np.ma.masked_array(matrix, mask=np.eye(n, dtype=bool))
        image = ax.imshow(pairs, cmap="magma_r", vmin=0.0, vmax=1.0)
        step = max(1, int(np.ceil(n / 20)))  # at most 20 labels per axis
        ticks = np.arange(0, n, step)
        ax.set_xticks(ticks, [str(seeds[t]) for t in ticks], rotation=90 if n > 10 else 0)
        ax.set_yticks(ticks, [str(seeds[t]) for t in ticks])
        ax.set(xlabel="seed", ylabel="seed", title=f"Pairwise disagreement of {n} seeds")
        fig.colorbar(image, ax=ax, label="share of samples predicted differently")
        if n <= ANNOTATED_MAX:  # small differences look alike on a 0-1 scale: the numbers tell them apart
            for (i, j), value in np.ndenumerate(matrix):
                if i != j:
                    colour = "white" if value > 0.5 else "black"
                    ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=8, color=colour)
        return fig
    pairs = matrix[np.triu_indices(n, k=1)]
    fig, ax = plt.subplots(figsize=WIDE, layout="constrained")
    ax.hist(pairs, bins=_bins(pairs, n_samples), color="#fdae6b", edgecolor="white")
    ax.yaxis.set_major_formatter("{x:,.0f}")
    ax.axvline(float(pairs.mean()), color="C3", label=f"mean {pairs.mean():.4f}")
    ax.axvline(float(np.median(pairs)), color="C3", linestyle=":", label=f"median {np.median(pairs):.4f}")
    ax.set(
        xlabel="share of samples two seeds predict differently",
        ylabel="pairs of seeds",
        title=f"Pairwise disagreement: {pairs.size:,} pairs of {n} seeds",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig
