"""What the gate can tell at the noise it measured (pure): the drop's upper confidence bound, the smallest
drop it could have detected, and how many seeds a side would tell a given drop.

The noise is the standard error of the difference of the two nights' mean accuracies, from their per-seed
variances (Welch: no equal-variance assumption), with Welch-Satterthwaite degrees of freedom.

Power uses the noncentral t distribution, not the normal approximation: at 2-4 seeds a side the degrees of
freedom are 2-6, where z-quantiles understate the detectable drop by a third or more (at 4 seeds a side,
power 0.8 at alpha 0.01 needs a shift of 4.1 standard errors, the normal approximation says 3.2).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

POWER = 0.8  # the detectable drop: the one the gate's test would catch 4 times in 5
MIN_SEEDS = 2  # per side, for a variance
MAX_SEEDS = 100_000  # seeds_needed gives up beyond this (None: "more than 100,000")


@dataclass(frozen=True)
class Noise:
    """The seed noise of a comparison: the standard error of the drop, its degrees of freedom, and the
    per-seed standard deviation both nights share (the root of the mean of their variances)."""

    se: float
    df: float
    sd: float


def _finite(values: Sequence[float | None]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)


def measured_noise(current: Sequence[float | None], baseline: Sequence[float | None]) -> Noise | None:
    """The noise of tonight's mean minus the baseline's; None when neither side has MIN_SEEDS seeds.

    With one side below MIN_SEEDS, the other side's variance stands for both (its df: n - 1).
    """
    x, y = _finite(current), _finite(baseline)
    sides = [v for v in (x, y) if v.size >= MIN_SEEDS]
    if not sides or x.size == 0 or y.size == 0:
        return None
    if len(sides) == 1:
        var = float(sides[0].var(ddof=1))
        se = math.sqrt(var * (1 / x.size + 1 / y.size))
        return Noise(se, float(sides[0].size - 1), math.sqrt(var))
    vx, vy = float(x.var(ddof=1)), float(y.var(ddof=1))
    ex, ey = vx / x.size, vy / y.size
    se = math.sqrt(ex + ey)
    df = (ex + ey) ** 2 / (ex**2 / (x.size - 1) + ey**2 / (y.size - 1)) if se > 0 else x.size + y.size - 2.0
    return Noise(se, float(df), math.sqrt((vx + vy) / 2))


def upper_bound(drop: float, noise: Noise, confidence: float) -> float:
    """The drop's one-sided upper confidence bound at `confidence` (Welch's t quantile)."""
    from scipy import stats  # here: reading a verdict must not pay for scipy's import

    return drop + float(stats.t.ppf(confidence, noise.df)) * noise.se


def _shift(df: float, alpha: float, power: float) -> float:
    """The noncentrality (drop / its standard error) at which a one-sided t-test at alpha has `power`."""
    from scipy import special, stats

    critical = float(stats.t.ppf(1 - alpha, df))
    return float(special.nctdtrinc(df, 1 - power, critical))  # P(T_nc <= critical) = 1 - power


def welch_detectable(noise: Noise, alpha: float, min_effect: float, power: float = POWER) -> float:
    """The smallest drop Welch's test at alpha catches with `power` at this noise; never below min_effect
    (a smaller drop never counts). With no noise at all, min_effect."""
    if noise.se == 0:
        return min_effect
    return max(_shift(noise.df, alpha, power) * noise.se, min_effect)


def threshold_detectable(noise: Noise, max_drop: float, power: float = POWER) -> float:
    """The smallest true drop whose measured drop exceeds max_drop with `power` (the threshold rule tests
    nothing: the measured drop is the true one plus normal noise of standard error se)."""
    from scipy import stats

    return max_drop + float(stats.norm.ppf(power)) * noise.se


def seeds_needed(noise: Noise, alpha: float, min_effect: float, max_drop: float) -> int | None:
    """Seeds a side (equal counts, this per-seed noise) at which Welch's test at alpha catches a drop of
    max_drop with power POWER; None when no count up to MAX_SEEDS would (or min_effect > max_drop)."""
    if min_effect > max_drop:
        return None
    if noise.sd == 0:
        return MIN_SEEDS

    def enough(n: int) -> bool:
        per_side = Noise(noise.sd * math.sqrt(2 / n), 2.0 * (n - 1), noise.sd)
        return welch_detectable(per_side, alpha, min_effect) <= max_drop

    if not enough(MAX_SEEDS):
        return None
    low, high = MIN_SEEDS, MAX_SEEDS  # enough(high); the detectable drop falls as n grows
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle + 1, high)
    return low
