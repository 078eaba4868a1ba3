"""The regression gate: tonight's run against its baseline run, judged against the seed noise it measured.

Rule "welch" (default): a regression is a one-sided Welch t-test on the two runs' per-seed test accuracies
with p < alpha AND a drop of the mean of at least min_effect. With fewer than 2 seeds on either side, or no
seed variance on either side, there is no noise to test against and the threshold rule applies (said so).
Rule "threshold": a regression is a drop of the mean of more than max_drop. Failed seeds always regress.
Rule "separation", under welch, needs no variance estimate (with 2 or 3 seeds a side Welch has little power):
when every seed of tonight is below every seed of the baseline and the mean fell by more than max_drop, it is
a regression whatever p says.
Runs scored on different test splits are never compared: the verdict is "not comparable", naming both.
Every comparison carries what changed between the two runs' records (summary/changes.py).
"""

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from lenet_batch.config import GATE_RULES, GateRule
from lenet_batch.records import digest_of_test_split
from lenet_batch.summary.changes import run_changes
from lenet_batch.summary.types import (
    NOT_COMPARABLE,
    Comparison,
    Delta,
    RunSummary,
    SeedCounts,
    WelchTest,
    changes_text,
)

WELCH, THRESHOLD = GATE_RULES
SEPARATION = "separation"  # the rule that decided when every seed fell below every baseline seed
# A drop equal to max_drop must not fail the gate just because 0.90 - 0.89 > 0.01 in binary floating point.
GATE_TOLERANCE = 1e-9
MIN_SEEDS = 2  # per side, for a variance to test against


@dataclass(frozen=True)
class Judgement:
    """What the applied rule said about the change of the mean."""

    applied: str  # welch or threshold
    regressed: bool
    text: str  # the test and its conclusion, in words
    test: WelchTest | None = None
    fallback: str | None = None  # why welch was asked for but the threshold rule applied


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


def _delta(current: float | None, baseline: float | None) -> Delta:
    """Current, baseline and current minus baseline (None when either is missing)."""
    both = current is not None and baseline is not None
    return Delta(current, baseline, (current - baseline) if both else None)


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


def test_digest(summary: RunSummary) -> str | None:
    """The digest of the test split a run's predictions were scored on (what the run recorded, for a
    summary.json from before `scored`); None when neither is known."""
    if summary.scored is not None and summary.scored.digest:
        return summary.scored.digest
    return digest_of_test_split(summary.run_metadata.data) if summary.run_metadata else None


def compare(
    current: RunSummary,
    baseline: RunSummary | None,
    rule: GateRule | None = None,
    why_none: str = "",
) -> Comparison:
    """Tonight against the baseline; with no baseline nothing is compared and why_none says why."""
    rule = rule or GateRule()
    mean = _delta(current.across_seeds.mean, baseline.across_seeds.mean if baseline else None)
    ens = _delta(current.ensemble.accuracy, baseline.ensemble.accuracy if baseline else None)
    ours, theirs = current.seed_accuracies(), baseline.seed_accuracies() if baseline else []
    digests = (test_digest(current), test_digest(baseline)) if baseline else None
    comparable = digests is None or None in digests or digests[0] == digests[1]
    judged = baseline is not None and mean.delta is not None and comparable
    judgement = judge(ours, theirs, -mean.delta, rule) if judged else None
    reasons = [judgement.text] if judgement and judgement.regressed else []
    failed = sorted(current.failed_seeds)
    if failed:
        reasons.append(f"{len(failed)} seed(s) failed: {failed}")
    verdict = "regressed" if reasons else "passed" if judgement else "n/a"
    comparison = Comparison(
        baseline_run_id=baseline.run_id if baseline else None,
        baseline_reason=None if baseline is not None else (why_none or "no baseline run"),
        **asdict(rule),  # rule, alpha, min_effect, max_drop
        applied_rule=judgement.applied if judgement else None,
        fallback=judgement.fallback if judgement else None,
        n_seeds=SeedCounts(len(ours), len(theirs) if baseline is not None else None),
        mean_accuracy=mean,
        ensemble_accuracy=ens,
        effect=mean.delta,
        test=judgement.test if judgement else None,
        prob_superiority=prob_superiority(ours, theirs) if baseline is not None else None,
        failed_seeds=tuple(failed),
        regressed=bool(reasons),
        reasons=tuple(reasons),
        verdict=verdict if comparable or reasons else NOT_COMPARABLE,
        changes=run_changes(current, baseline) if baseline is not None else None,
        test_digests=digests,
    )
    return _with_sentence(comparison, judgement)


def _changed(cmp: Comparison) -> str:
    """'; changed: lr 0.1 → 0.01', and for a regression with nothing recorded changed, that finding."""
    text = changes_text(cmp.changes)
    if text is None:
        return ""
    if not cmp.changes:
        return f"; {text}: look at the environment" if cmp.regressed else f"; {text}"
    return f"; changed: {text}"


def _with_sentence(cmp: Comparison, judgement: Judgement | None) -> Comparison:
    """The comparison with its sentence: numbers, test, verdict and what changed, in words a person reads."""
    failed = list(cmp.failed_seeds)
    tail = f"; {len(failed)} seed(s) failed: {failed}" if failed else ""
    if cmp.baseline_run_id is None:
        return replace(cmp, sentence=f"no baseline ({cmp.baseline_reason}){tail}")
    if judgement is None:  # another test split: the means are not compared
        ours, theirs = cmp.test_digests or (None, None)
        text = f"{NOT_COMPARABLE}: test data {ours} vs {theirs} of baseline {cmp.baseline_run_id}"
        return replace(cmp, sentence=f"{text}, so accuracy was not compared{_changed(cmp)}{tail}")
    mean = cmp.mean_accuracy
    change = f"{mean.baseline:.4f} → {mean.current:.4f} ({mean.delta:+.4f})"
    head = f"baseline {cmp.baseline_run_id}: mean {change}"
    superiority = cmp.prob_superiority
    odds = "" if superiority is None else f"; P(tonight's seed beats the baseline's) = {superiority:.2f}"
    return replace(cmp, sentence=f"{head}, {judgement.text}{odds}{_changed(cmp)}{tail}")
