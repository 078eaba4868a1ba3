"""What the gate can tell at the noise it measured (pure): the drop's upper confidence bound, the smallest
drop it could have detected, and how many seeds a side would tell a given drop.

The noise is the standard error of the difference of the two nights' mean accuracies, from their per-seed
variances (Welch: no equal-variance assumption), with Welch-Satterthwaite degrees of freedom.

Power is Welch's own, computed rather than approximated: for normal seeds the measured drop is independent
of the measured variances, so the test's power is the normal probability that the drop exceeds what the
gate needs (the t quantile at the Welch df those variances give times their standard error, and at least
min_effect), averaged over the two variances' chi-square distributions (a grid of equally likely values;
a Gauss-Laguerre rule misjudged it by 0.04 at 2 seeds a side, where the t quantile swings widely).
Neither offered shortcut is honest at our seed counts: the noncentral t fixes the df at n1 + n2 - 2, which
Welch's estimated df never exceeds, and claims power 0.8 where Welch has 0.63 at 3 seeds a side and 0.72
at 4; the normal approximation, 0.29 and 0.47 (tests/test_gate_evidence.py measures all three).
"""

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

POWER = 0.8  # the detectable drop: the one the gate's test would catch 4 times in 5
MIN_SEEDS = 2  # per side, for a variance
MAX_SEEDS = 100_000  # seeds_needed gives up beyond this (None: "more than 100,000")
GRID = 32  # equally likely values per measured variance: the power to within 0.003 of simulation


@dataclass(frozen=True)
class Noise:
    """The seed noise of a comparison: the standard error of the drop and its Welch df, each night's
    per-seed standard deviation and seed count, and the deviation both share (root of their mean variance)."""

    se: float
    df: float
    sd: float
    sides: tuple[tuple[float, int], tuple[float, int]]  # (std, seeds) tonight and in the baseline


def _finite(values: Sequence[float | None]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)


def measured_noise(current: Sequence[float | None], baseline: Sequence[float | None]) -> Noise | None:
    """The noise of tonight's mean minus the baseline's; None when neither side has MIN_SEEDS seeds.

    With one side below MIN_SEEDS, the other side's variance stands for both (its df: n - 1).
    """
    x, y = _finite(current), _finite(baseline)
    if min(x.size, y.size) == 0 or max(x.size, y.size) < MIN_SEEDS:
        return None
    if min(x.size, y.size) < MIN_SEEDS:
        vx = vy = float((x if x.size >= MIN_SEEDS else y).var(ddof=1))
        df = float(max(x.size, y.size) - 1)
    else:
        vx, vy = float(x.var(ddof=1)), float(y.var(ddof=1))
        ex, ey = vx / x.size, vy / y.size
        welch = (ex + ey) ** 2 / (ex**2 / (x.size - 1) + ey**2 / (y.size - 1)) if ex + ey > 0 else 0.0
        df = welch or float(x.size + y.size - 2)
    sides = ((math.sqrt(vx), int(x.size)), (math.sqrt(vy), int(y.size)))
    return Noise(math.sqrt(vx / x.size + vy / y.size), df, math.sqrt((vx + vy) / 2), sides)


def upper_bound(drop: float, noise: Noise, confidence: float) -> float:
    """The drop's one-sided upper confidence bound at `confidence` (Welch's t quantile)."""
    from scipy import special  # here: reading a verdict must not pay for scipy's import

    return drop + float(special.stdtrit(noise.df, confidence)) * noise.se  # stdtrit: the t quantile


@functools.cache
def _variance_ratios(df: int) -> np.ndarray:
    """GRID equally likely values of a measured variance over the true one (chi-square / df): the midpoints
    of GRID equal slices of its distribution."""
    from scipy import special

    p = (np.arange(GRID) + 0.5) / GRID
    return special.chdtri(df, 1 - p) / df  # chdtri: the chi-square quantile, from above


def _welch_needed(sides: tuple[tuple[float, int], ...], alpha: float) -> np.ndarray:
    """The drop Welch's test at alpha needs (t quantile at the Welch df times the standard error), at each
    equally likely pair of measured variances, for the true (std, seeds) of each side."""
    from scipy import special

    (sd1, n1), (sd2, n2) = sides
    e1 = (sd1**2 / n1) * _variance_ratios(n1 - 1)[:, None]  # s1^2 / n1
    e2 = (sd2**2 / n2) * _variance_ratios(n2 - 1)[None, :]
    df = (e1 + e2) ** 2 / (e1**2 / (n1 - 1) + e2**2 / (n2 - 1))
    return (special.stdtrit(df, 1 - alpha) * np.sqrt(e1 + e2)).ravel()


@functools.lru_cache(maxsize=2048)
def _welch_needed_per_sd(n: int, alpha: float) -> np.ndarray:
    """_welch_needed at n seeds a side and a std of 1 on both: it scales with the std (seeds_needed)."""
    return _welch_needed(((1.0, n), (1.0, n)), alpha)


def _caught(drop: float, needed: np.ndarray, min_effect: float, se: float) -> float:
    """P(the measured drop reaches what the rule needs), averaged over the variance grid."""
    from scipy import special

    return float(np.mean(special.ndtr((drop - np.maximum(needed, min_effect)) / se)))


def welch_power(drop: float, sides: tuple[tuple[float, int], ...], alpha: float, min_effect: float) -> float:
    """P(the gate's Welch rule regresses: p < alpha and a drop of at least min_effect) at a true drop, given
    each side's true (std, seeds)."""
    (sd1, n1), (sd2, n2) = sides
    se = math.sqrt(sd1**2 / n1 + sd2**2 / n2)
    return _caught(drop, _welch_needed(sides, alpha), min_effect, se)


def welch_detectable(noise: Noise, alpha: float, min_effect: float, power: float = POWER) -> float:
    """The smallest drop Welch's rule (p < alpha and a drop of at least min_effect) catches with `power`
    if the measured deviations were the true ones. With no noise at all, min_effect."""
    from scipy import optimize

    if noise.se == 0:
        return min_effect
    needed = _welch_needed(noise.sides, alpha)

    def short(drop: float) -> float:
        return _caught(drop, needed, min_effect, noise.se) - power

    high = max(float(needed.max()), min_effect) + 10 * noise.se
    return float(optimize.brentq(short, 0.0, high, xtol=1e-7))


def threshold_detectable(noise: Noise, max_drop: float, power: float = POWER) -> float:
    """The smallest true drop whose measured drop exceeds max_drop with `power` (the threshold rule tests
    nothing: the measured drop is the true one plus normal noise of standard error se)."""
    from scipy import special

    return max_drop + float(special.ndtri(power)) * noise.se  # ndtri: the normal quantile


def seeds_needed(noise: Noise, alpha: float, min_effect: float, max_drop: float) -> int | None:
    """Seeds a side (equal counts, the shared per-seed deviation) at which Welch's rule at alpha catches a
    drop of max_drop with power POWER; None when no count up to MAX_SEEDS would (or min_effect > max_drop)."""
    if min_effect > max_drop:
        return None
    if noise.sd == 0:
        return MIN_SEEDS

    def enough(n: int) -> bool:
        needed = noise.sd * _welch_needed_per_sd(n, alpha)
        return _caught(max_drop, needed, min_effect, noise.sd * math.sqrt(2 / n)) >= POWER

    if not enough(MAX_SEEDS):
        return None
    low, high = MIN_SEEDS, MAX_SEEDS  # enough(high); the power grows with n
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle + 1, high)
    return low
