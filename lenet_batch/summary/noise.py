"""Is a change of mean accuracy beyond seed noise? Tests on two runs' per-seed accuracies (pure)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Welch:
    """One-sided Welch t-test of "tonight's mean is lower than the baseline's"."""

    statistic: float  # (mean tonight - mean baseline) / its standard error
    df: float  # Welch-Satterthwaite degrees of freedom
    p_value: float  # P(T <= statistic) under equal means


def _finite(values: Sequence[float | None]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)


def welch_less(current: Sequence[float | None], baseline: Sequence[float | None]) -> Welch | None:
    """The one-sided Welch test (alternative: current < baseline); None when there is no variance to test.

    None with fewer than 2 values on either side, and when both sides have zero variance (identical
    accuracies within each run): the standard error is 0, so t is ±inf or 0/0 and no p-value means anything.
    With zero variance on one side only, the other side's variance carries the test (df = n - 1 there).
    """
    from scipy import stats  # here: `lenet-batch runs` reads verdicts and should not pay for scipy's import

    x, y = _finite(current), _finite(baseline)
    if x.size < 2 or y.size < 2:
        return None
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    if vx + vy == 0:
        return None
    t = float((x.mean() - y.mean()) / math.sqrt(vx + vy))
    df = float((vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1)))
    return Welch(statistic=t, df=df, p_value=float(stats.t.cdf(t, df)))


def prob_superiority(current: Sequence[float | None], baseline: Sequence[float | None]) -> float | None:
    """Share of (tonight's seed, baseline's seed) pairs in which tonight's is better, ties counted half."""
    x, y = _finite(current), _finite(baseline)
    if x.size == 0 or y.size == 0:
        return None
    wins = (x[:, None] > y[None, :]).sum() + 0.5 * (x[:, None] == y[None, :]).sum()
    return float(wins / (x.size * y.size))
