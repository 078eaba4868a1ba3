"""Tonight against its reference night (pure): slow drift that night-to-night steps each let through.

The reference is the oldest passed or accepted night within --reference-window (the baseline search picks
it). A drop since the reference of at least max_drop, with the evidence a regression needs (Welch at alpha,
the separation rule, or the threshold rule when no noise was measured), is drift: tonight regressed.
A drop since the reference whose upper bound at --confidence reaches max_drop is not a pass: the night
cannot be told from one that drifted (inconclusive). A decay of 0.5 points a night at 4 seeds with a
std of 0.003 passes each step against the night before (p ~ 0.03) but fails here by the third night.
"""

from dataclasses import replace

from lenet_batch.config import GateRule
from lenet_batch.summary import power
from lenet_batch.summary.comparison import (
    DRIFT,
    INCONCLUSIVE,
    NOT_COMPARABLE,
    PASSED,
    Delta,
    ReferenceCheck,
    SeedCounts,
)
from lenet_batch.summary.judge import WELCH, comparable, judge
from lenet_batch.summary.types import RunSummary


def against_reference(current: RunSummary, reference: RunSummary, rule: GateRule) -> ReferenceCheck:
    """Tonight's drift since the reference night: passed, drift, inconclusive, or not comparable."""
    ours, theirs = current.seed_accuracies(), reference.seed_accuracies()
    now, then = current.across_seeds.mean, reference.across_seeds.mean
    mean = Delta(now, then, None if now is None or then is None else now - then)
    counts = SeedCounts(len(ours), len(theirs))
    digests, same_data = comparable(current, reference)
    if mean.delta is None or not same_data:
        text = f"reference {reference.run_id} {NOT_COMPARABLE}: test data {digests[0]} vs {digests[1]}"
        return ReferenceCheck(reference.run_id, counts, mean, verdict=NOT_COMPARABLE, sentence=text)
    drop = -mean.delta
    # A drift is a drop of at least max_drop, however small a drop min_effect lets count night to night.
    strict = replace(rule, min_effect=max(rule.min_effect, rule.max_drop))
    judgement = judge(ours, theirs, drop, strict)
    noise = power.measured_noise(ours, theirs) if judgement.applied == WELCH else None
    upper = None if noise is None else power.upper_bound(drop, noise, rule.confidence)
    if judgement.regressed:
        verdict = DRIFT
    elif upper is not None and upper >= rule.max_drop:
        verdict = INCONCLUSIVE
    else:
        verdict = PASSED
    check = ReferenceCheck(
        reference.run_id, counts, mean, judgement.applied, judgement.test, upper, verdict, sentence=""
    )
    return replace(check, sentence=_words(check, rule, judgement.text))


def _words(check: ReferenceCheck, rule: GateRule, test_text: str) -> str:
    """'drift since R: mean 0.8800 → 0.8650 (-0.0150), <test>: …', in the gate's words."""
    m = check.mean_accuracy
    change = f"mean {m.baseline:.4f} → {m.current:.4f} ({m.delta:+.4f})"
    bound = "" if check.drop_upper_bound is None else f"{rule.confidence:.0%} upper bound of the drop "
    if check.verdict == DRIFT:
        return f"drift since {check.run_id}: {change}, {test_text}"
    if check.verdict == INCONCLUSIVE:
        return (
            f"may have drifted since {check.run_id}: {change}, {bound}{check.drop_upper_bound:.4f} >= "
            f"max drop {rule.max_drop:g}"
        )
    if check.drop_upper_bound is None:
        return f"no drift since {check.run_id}: {change}, {test_text}"
    return (
        f"no drift since {check.run_id}: {change}, {bound}{check.drop_upper_bound:.4f} < max drop "
        f"{rule.max_drop:g}"
    )
