"""The gate's tests of one comparison (pure): Welch's test, the separation rule, the threshold rule, and
what the measured noise says beyond them (the drop's upper bound, the detectable drop, the seeds needed).

Rule "welch" (default): a regression is a one-sided Welch t-test on the two runs' per-seed test accuracies
with p < alpha AND a drop of the mean of at least min_effect. With fewer than 2 seeds on either side, or no
seed variance on either side, there is no noise to test against and the threshold rule applies (said so).
Rule "threshold": a regression is a drop of the mean of more than max_drop.
Rule "separation", under welch, needs no variance estimate (with 2 or 3 seeds a side Welch has little power):
when every seed of tonight is below every seed of the baseline and the mean fell by more than max_drop, it is
a regression whatever p says.
"""

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lenet_batch.config import GATE_RULES, GateRule
from lenet_batch.records import digest_of_test_split
from lenet_batch.summary import power
from lenet_batch.summary.comparison import INCONCLUSIVE, PASSED, REGRESSED, WelchTest
from lenet_batch.summary.types import RunSummary

WELCH, THRESHOLD = GATE_RULES
SEPARATION = "separation"  # the rule that decided when every seed fell below every baseline seed
# A drop equal to max_drop must not fail the gate just because 0.90 - 0.89 > 0.01 in binary floating point.
GATE_TOLERANCE = 1e-9
MIN_SEEDS = power.MIN_SEEDS  # per side, for a variance to test against


@dataclass(frozen=True)
class Judgement:
    """What the applied rule said about the change of the mean."""

    applied: str  # welch, separation or threshold
    regressed: bool
    text: str  # the test and its conclusion, in words
    test: WelchTest | None = None
    fallback: str | None = None  # why welch was asked for but the threshold rule applied


@dataclass(frozen=True)
class Evidence:
    """What the measured noise lets the gate say: the drop's upper bound (welch only), the smallest drop
    the applied rule catches with power 0.8, and the seeds a side that would tell a drop of max_drop."""

    upper: float | None = None
    detectable: float | None = None
    seeds_needed: int | None = None


def _finite(values: Sequence[float | None]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)


def welch_less(current: Sequence[float | None], baseline: Sequence[float | None]) -> WelchTest | None:
    """scipy's one-sided Welch test (alternative: current < baseline); None when there is no noise to test.

    None with fewer than 2 values on either side, and when every value within each side is the same: the
    standard error is 0 (or, where the mean of equal floats rounds, a few 1e-17), so t would be ±inf or
    0/0 and no p-value would mean anything. With one side constant, the other side's variance carries the
    test (df = n - 1 there).
    """
    from scipy import stats  # here: `lenet-batch runs` reads verdicts and should not pay for scipy's import

    x, y = _finite(current), _finite(baseline)
    if x.size < MIN_SEEDS or y.size < MIN_SEEDS or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return None
    with warnings.catch_warnings():
        # scipy warns of "catastrophic cancellation" when one side is constant: that side's variance is
        # ~0 either way and the other side carries the test, so the warning would only be noise on stderr.
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        result = stats.ttest_ind(x, y, equal_var=False, alternative="less")
    return WelchTest(statistic=float(result.statistic), df=float(result.df), p_value=float(result.pvalue))


def prob_superiority(current: Sequence[float | None], baseline: Sequence[float | None]) -> float | None:
    """Share of (tonight's seed, baseline's seed) pairs in which tonight's is better, ties counted half."""
    x, y = _finite(current), _finite(baseline)
    if x.size == 0 or y.size == 0:
        return None
    wins = (x[:, None] > y[None, :]).sum() + 0.5 * (x[:, None] == y[None, :]).sum()
    return float(wins / (x.size * y.size))


def _threshold(drop: float, rule: GateRule, fallback: str | None) -> Judgement:
    """Today's rule: a drop of the mean beyond max_drop."""
    regressed = drop > rule.max_drop + GATE_TOLERANCE
    if regressed:
        verdict = f"drop {drop:.4f} > max drop {rule.max_drop:g}: regression"
    else:
        verdict = "no drop" if drop <= 0 else f"drop {drop:.4f} <= max drop {rule.max_drop:g}"
    rule_text = f"threshold rule (max drop {rule.max_drop:g}" + (f"; {fallback})" if fallback else ")")
    return Judgement(THRESHOLD, regressed, f"{rule_text}: {verdict}", fallback=fallback)


def _no_test_reason(current: list[float], baseline: list[float]) -> str:
    if len(current) < MIN_SEEDS or len(baseline) < MIN_SEEDS:
        return (
            f"the Welch test needs {MIN_SEEDS} seeds on each side, tonight has {len(current)} and the "
            f"baseline {len(baseline)}"
        )
    return "no seed variance on either side to test against"


def judge(current: list[float], baseline: list[float], drop: float, rule: GateRule) -> Judgement:
    """Apply the rule to the drop of the mean (baseline minus tonight) and the per-seed accuracies."""
    welch = welch_less(current, baseline) if rule.rule == WELCH else None
    if welch is None:
        fallback = _no_test_reason(current, baseline) if rule.rule == WELCH else None
        return _threshold(drop, rule, fallback)
    significant, large = welch.p_value < rule.alpha, drop >= rule.min_effect - GATE_TOLERANCE
    test = f"Welch one-sided t-test t = {welch.statistic:.2f}, df = {welch.df:.1f}, p = {welch.p_value:.2g}"
    effect = f"drop {drop:.4f}"
    if significant and large:
        verdict = f"p < {rule.alpha:g} and {effect} >= {rule.min_effect:g}: regression beyond seed noise"
    elif significant:
        verdict = f"p < {rule.alpha:g} but {effect} < min effect {rule.min_effect:g}: too small to count"
    else:
        verdict = "no drop" if drop <= 0 else "within seed noise"
    judgement = Judgement(WELCH, significant and large, f"{test}: {verdict}", welch)
    return judgement if judgement.regressed else _separated(current, baseline, drop, rule, judgement)


def _separated(current: list[float], baseline: list[float], drop: float, rule: GateRule, welch: Judgement):
    """The separation rule: every seed below every baseline seed and the mean fell by more than max_drop."""
    if not current or not baseline or max(current) >= min(baseline):
        return welch
    if drop <= rule.max_drop + GATE_TOLERANCE:
        return welch
    text = (
        f"{welch.text}, but every seed is below every seed of the baseline (best {max(current):.4f} < "
        f"worst {min(baseline):.4f}) and drop {drop:.4f} > max drop {rule.max_drop:g}: regression "
        "whatever p says"
    )
    return Judgement(SEPARATION, True, text, welch.test)


def evidence(
    current: list[float], baseline: list[float], drop: float, rule: GateRule, applied: str
) -> Evidence:
    """The upper bound of the drop (when Welch's test ran), the detectable drop of the applied rule and,
    under welch, the seeds a side that would tell a drop of max_drop, from the noise both nights measured."""
    noise = power.measured_noise(current, baseline)
    if noise is None:
        return Evidence()
    welch = rule.rule == WELCH
    needed = power.seeds_needed(noise, rule.alpha, rule.min_effect, rule.max_drop) if welch else None
    if applied == THRESHOLD:
        return Evidence(None, power.threshold_detectable(noise, rule.max_drop), needed)
    upper = power.upper_bound(drop, noise, rule.confidence)
    return Evidence(upper, power.welch_detectable(noise, rule.alpha, rule.min_effect), needed)


def verdict_of(judgement: Judgement, proof: Evidence, rule: GateRule) -> str:
    """regressed; passed when the drop's upper bound is below max_drop (or, with no noise to bound it
    with, by the threshold rule alone); else inconclusive."""
    if judgement.regressed:
        return REGRESSED
    if judgement.applied == THRESHOLD or proof.upper is None:
        return PASSED
    return PASSED if proof.upper < rule.max_drop else INCONCLUSIVE


def below_floor(mean: float | None, floor: float | None) -> str | None:
    """Why tonight's mean is below the floor (--min-accuracy); None when it is not, or there is none."""
    if floor is None or mean is None or mean >= floor - GATE_TOLERANCE:
        return None
    return f"mean {mean:.4f} is below the floor {floor:g} (--min-accuracy)"


def test_digest(summary: RunSummary) -> str | None:
    """The digest of the test split a run's predictions were scored on (what the run recorded, for a
    summary.json from before `scored`); None when neither is known."""
    if summary.scored is not None and summary.scored.digest:
        return summary.scored.digest
    return digest_of_test_split(summary.run_metadata.data) if summary.run_metadata else None


def comparable(current: RunSummary, other: RunSummary) -> tuple[tuple[str | None, str | None], bool]:
    """(tonight's and the other night's test digests, whether they were scored on the same test split)."""
    digests = (test_digest(current), test_digest(other))
    return digests, None in digests or digests[0] == digests[1]
