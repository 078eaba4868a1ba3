"""The trend figures across nights, as PNG bytes: accuracy per night and per-class accuracy per night.

Drawn on matplotlib Figure objects (no pyplot, so no global state to close); rows are oldest night first.
"""

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lenet_batch.state.night import NightStatus

DPI = 100
WIDE = (11.0, 4.5)  # inches: 1100 x 450 pixels at DPI
MAX_TICKS = 16  # run ids shown on the x axis; the others are left out beyond that many nights
# How each state of a night is marked on the trend: (colour, marker, legend label); a state not named here
# (failed, incomplete, damaged, or one added later) is marked as "failed", never left out.
MARKS = {
    "ok": ("C0", "o", "mean: passed or no baseline"),
    "regressed": ("C3", "o", "mean: regressed (gated)"),
    "inconclusive": ("C8", "o", "mean: inconclusive (too noisy to tell)"),
    "failed": ("C1", "X", "any other night: failed, unfinished, damaged"),
}
ACCEPTED = "accepted by hand: the new baseline"  # a ring around the night's mark
# File name -> what to look at, in the order history.html shows them (trend_captions adds the numbers).
FIGURES = {
    "accuracy_trend.png": "Each night's mean test accuracy over its seeds (blue: passed or nothing to "
    "compare with; red: the gate found a regression; olive: inconclusive, too noisy to tell; orange x: a "
    "failed or unfinished night; a black ring: a night accepted by hand as the new baseline, a deliberate "
    "change), the 95% CI of that mean (band, within [0, 1]), the range of single seeds (grey) and the "
    "ensemble (dashed). Look for a point below the band of the nights before it, and for grey bars that "
    "grow.",
    "per_class_trend.png": "Each class's mean test accuracy (rows) per night (columns), the number in the "
    "cell. Look along a row for a class that drops while the others hold; a column darker than its "
    "neighbours is a night that was worse for every class.",
}
CELL_NUMBERS_MAX = 40  # nights up to which the heatmap writes its numbers in the cells


def _trend_figure(size: tuple[float, float] = WIDE) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI, layout="constrained")


def _trend_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _column(rows: Sequence[NightStatus], key: str) -> np.ndarray:
    values = [getattr(r, key) for r in rows]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _run_id_ticks(ax: Any, run_ids: Sequence[str]) -> None:
    """Run ids under the x axis, thinned to at most MAX_TICKS."""
    step = max(1, math.ceil(len(run_ids) / MAX_TICKS))
    ticks = list(range(0, len(run_ids), step))
    ax.set_xticks(ticks, [run_ids[i] for i in ticks], rotation=30, ha="right", fontsize="small")


def _marker_size(n: int) -> float:
    """Markers shrink as nights accumulate so that a year of them still reads."""
    return 7.0 if n <= 60 else 4.0 if n <= 300 else 2.0


def _state(row: NightStatus) -> str:
    """How a night is marked: its outcome, or the gate's verdict for one accepted by hand (its ring says
    that its alarm is over); a state MARKS does not name is marked as failed, never left out."""
    said = row.verdict if row.accepted is not None and row.verdict in MARKS else row.outcome
    return said if said in MARKS else "failed"


def _marks(ax: Any, rows: Sequence[NightStatus], x: np.ndarray, y: np.ndarray) -> None:
    """Each night's mark at y, coloured by its state, and a ring around each night accepted by hand."""
    states, size = np.array([_state(r) for r in rows]), _marker_size(len(rows))
    for name, (colour, marker, label) in MARKS.items():
        chosen = states == name
        if chosen.any():
            ax.plot(
                x[chosen], y[chosen], marker, color=colour, markersize=size, linestyle="none", label=label
            )
    accepted = np.array([r.accepted is not None for r in rows], dtype=bool)
    if accepted.any():
        ring = {"markersize": 2 * size, "markerfacecolor": "none", "markeredgewidth": 1.5}
        ax.plot(x[accepted], y[accepted], "o", color="k", linestyle="none", label=ACCEPTED, **ring)


def accuracy_trend_png(rows: Sequence[NightStatus]) -> bytes:
    """One mark per night at its mean accuracy (coloured by state), CI band, min-max, ensemble line."""
    fig = _trend_figure()
    ax = fig.subplots()
    x = np.arange(len(rows))
    mean, low, high = _column(rows, "mean_accuracy"), _column(rows, "ci95_low"), _column(rows, "ci95_high")
    low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)  # an accuracy's interval stays in [0, 1]
    if np.isfinite(low).any():  # no band (nor its legend entry) when no night has 3 seeds
        ax.fill_between(x, low, high, color="C0", alpha=0.15, linewidth=0, label="95% CI of the mean")
    ax.vlines(x, _column(rows, "min_accuracy"), _column(rows, "max_accuracy"), color="0.65", label="min-max")
    ax.plot(x, _column(rows, "ensemble_accuracy"), "--", color="C2", label="ensemble")
    known = mean[np.isfinite(mean)]
    floor = float(known.min()) - 0.01 if known.size else 0.0  # where nights without a mean are marked
    _marks(ax, rows, x, np.where(np.isfinite(mean), mean, floor))
    _run_id_ticks(ax, [r.run_id for r in rows])
    ax.set(xlabel="night (run id)", ylabel="test accuracy", title="Test accuracy per night")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _trend_png(fig)


def _cell_numbers(ax: Any, image: Any, matrix: np.ndarray) -> None:
    """Each cell's accuracy written in it (up to CELL_NUMBERS_MAX nights), dark on light, light on dark."""
    nights = matrix.shape[1] if matrix.ndim == 2 else 0
    if not nights or nights > CELL_NUMBERS_MAX:
        return
    size, digits = (8, 3) if nights <= 15 else (6, 2)
    for (i, j), value in np.ndenumerate(matrix):
        if np.isfinite(value):
            colour = "black" if image.norm(value) > 0.55 else "white"
            ax.text(j, i, f"{value:.{digits}f}", ha="center", va="center", fontsize=size, color=colour)


def per_class_trend_png(class_names: Sequence[str], run_ids: Sequence[str], matrix: np.ndarray) -> bytes:
    """Classes × nights heatmap of the mean per-class accuracy; nights without a summary are grey."""
    from matplotlib import colormaps

    fig = _trend_figure()
    ax = fig.subplots()
    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_invalid(matrix), aspect="auto", cmap=cmap, interpolation="nearest")
    ax.set_yticks(np.arange(len(class_names)), class_names, fontsize="small")
    _cell_numbers(ax, image, matrix)
    _run_id_ticks(ax, run_ids)
    ax.set(xlabel="night (run id)", title="Per-class test accuracy per night (mean across seeds)")
    fig.colorbar(image, ax=ax, label="accuracy")
    return _trend_png(fig)


def draw_trend_figures(
    rows: Sequence[NightStatus], class_names: Sequence[str], matrix: np.ndarray
) -> dict[str, bytes]:
    """Every trend figure as file name -> PNG bytes (rows and matrix columns oldest night first)."""
    figures = {"accuracy_trend.png": accuracy_trend_png(rows)}
    if class_names:
        figures["per_class_trend.png"] = per_class_trend_png(class_names, [r.run_id for r in rows], matrix)
    return figures


def trend_captions(
    rows: Sequence[NightStatus], class_names: Sequence[str], matrix: np.ndarray
) -> dict[str, str]:
    """Each figure's caption: what to look at, and what the newest nights show (rows oldest first)."""
    captions = dict(FIGURES)
    scored = [r for r in rows if r.mean_accuracy is not None]
    if scored:
        last = scored[-1]
        captions["accuracy_trend.png"] += (
            f" The newest night with a mean, {last.run_id}: {last.mean_accuracy:.4f}."
        )
        if all(r.ci95_low is None for r in scored):
            captions["accuracy_trend.png"] += " No night has 3 seeds or more: too few seeds for a band."
    accepted = [r for r in rows if r.accepted is not None]
    if accepted:
        said = "; ".join(f"{r.run_id} ('{r.accepted.reason}')" for r in accepted[-3:])  # type: ignore[union-attr]
        more = f" and {len(accepted) - 3} earlier" if len(accepted) > 3 else ""
        captions["accuracy_trend.png"] += f" Accepted as the new baseline (ringed): {said}{more}."
    done = [j for j in range(matrix.shape[1]) if np.isfinite(matrix[:, j]).any()] if matrix.ndim == 2 else []
    if class_names and done:
        newest = matrix[:, done[-1]]
        weakest = int(np.nanargmin(newest))
        text = (
            f" On {rows[done[-1]].run_id} the weakest class is {class_names[weakest]} ({newest[weakest]:.3f})"
        )
        if len(done) > 1:
            change = newest - matrix[:, done[-2]]
            k = int(np.nanargmin(change)) if np.isfinite(change).any() else -1
            if k >= 0 and change[k] < 0:
                text += f"; {class_names[k]} fell most against the night before ({change[k]:+.3f})"
        captions["per_class_trend.png"] += text + "."
    return captions
