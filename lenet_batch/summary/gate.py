"""The regression gate: tonight's run against its baseline run (and its reference night), judged against the
seed noise it measured, with three verdicts.

- regressed: the rule's test says so (summary/judge.py: Welch at alpha with min_effect, the separation rule,
  or the threshold rule), or the drift since the reference (summary/drift.py), tonight's mean below the
  floor (min_accuracy), or failed seeds;
- passed needs evidence: the drop's one-sided upper bound at `confidence` is below max_drop (and so is the
  drop since the reference). With no noise to bound it with (fewer than 2 seeds a side, or none varying),
  today's threshold rule decides, and the sentence says so;
- inconclusive: neither. The mean may have fallen by more than max_drop; the noise is too large to tell.
Every verdict says the smallest drop it could have detected at that noise (summary/power.py), and an
inconclusive one how many seeds a side would settle it. Runs scored on different test splits are never
compared: the verdict is "not comparable", naming both. Every comparison carries what changed between the
two runs' records (summary/changes.py).
"""

from dataclasses import asdict, replace

from lenet_batch.config import FAIL_ON, GateRule
from lenet_batch.errors import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_REGRESSION
from lenet_batch.summary.changes import run_changes
from lenet_batch.summary.comparison import (
    DRIFT,
    INCONCLUSIVE,
    NOT_APPLICABLE,
    NOT_COMPARABLE,
    PASSED,
    REGRESSED,
    Comparison,
    Delta,
    ReferenceCheck,
    SeedCounts,
)
from lenet_batch.summary.drift import against_reference
from lenet_batch.summary.gate_words import sentence
from lenet_batch.summary.judge import (
    Evidence,
    Judgement,
    below_floor,
    comparable,
    evidence,
    judge,
    prob_superiority,
    verdict_of,
    welch_less,
)
from lenet_batch.summary.types import RunSummary

__all__ = ["compare", "exit_code", "judge", "prob_superiority", "welch_less"]  # the tests: summary/judge.py


def _delta(current: float | None, baseline: float | None) -> Delta:
    """Current, baseline and current minus baseline (None when either is missing)."""
    both = current is not None and baseline is not None
    return Delta(current, baseline, (current - baseline) if both else None)


def _reasons(
    current: RunSummary, rule: GateRule, judgement: Judgement | None, ref: ReferenceCheck | None
) -> list[str]:
    """Each reason tonight regressed: the test, drift since the reference, the floor, failed seeds."""
    reasons = [judgement.text] if judgement and judgement.regressed else []
    if ref is not None and ref.verdict == DRIFT:
        reasons.append(ref.sentence)
    floor = below_floor(current.across_seeds.mean, rule.min_accuracy)
    if floor:
        reasons.append(floor)
    failed = sorted(current.failed_seeds)
    if failed:
        reasons.append(f"{len(failed)} seed(s) failed: {failed}")
    return reasons


def _verdict(reasons: list[str], night: str | None, ref: ReferenceCheck | None, same_data: bool) -> str:
    """regressed, inconclusive (night to night or since the reference), passed, n/a or not comparable."""
    if reasons:
        return REGRESSED
    if night == INCONCLUSIVE or (ref is not None and ref.verdict == INCONCLUSIVE):
        return INCONCLUSIVE
    if night is not None:
        return PASSED
    return NOT_APPLICABLE if same_data else NOT_COMPARABLE


def _night_to_night(
    ours: list[float], theirs: list[float], mean: Delta, rule: GateRule, comparable_night: bool
) -> tuple[Judgement | None, Evidence, str | None]:
    """The rule's judgement of the drop, the evidence of the noise, and the verdict night to night (None,
    Evidence() and None when nothing was compared: no baseline, no mean, or other test data)."""
    if not comparable_night or mean.delta is None:
        return None, Evidence(), None
    judgement = judge(ours, theirs, -mean.delta, rule)
    proof = evidence(ours, theirs, -mean.delta, rule, judgement.applied)
    return judgement, proof, verdict_of(judgement, proof, rule)


def compare(
    current: RunSummary,
    baseline: RunSummary | None,
    rule: GateRule | None = None,
    why_none: str = "",
    reference: RunSummary | None = None,
    accepted: str | None = None,
) -> Comparison:
    """Tonight against the baseline (and the reference night, when given); with no baseline nothing is
    compared night to night and why_none says why; `accepted`: the baseline was accepted by hand (what
    changed then, and why), said with its name."""
    rule = rule or GateRule()
    mean = _delta(current.across_seeds.mean, baseline.across_seeds.mean if baseline else None)
    ens = _delta(current.ensemble.accuracy, baseline.ensemble.accuracy if baseline else None)
    ours, theirs = current.seed_accuracies(), baseline.seed_accuracies() if baseline else []
    digests, same_data = comparable(current, baseline) if baseline else (None, True)
    judgement, proof, night = _night_to_night(ours, theirs, mean, rule, baseline is not None and same_data)
    ref = against_reference(current, reference, rule) if reference is not None else None
    reasons = _reasons(current, rule, judgement, ref)
    comparison = Comparison(
        baseline_run_id=baseline.run_id if baseline else None,
        baseline_reason=None if baseline is not None else (why_none or "no baseline run"),
        **asdict(rule),  # rule, alpha, min_effect, max_drop, confidence, min_accuracy
        applied_rule=judgement.applied if judgement else None,
        fallback=judgement.fallback if judgement else None,
        n_seeds=SeedCounts(len(ours), len(theirs) if baseline is not None else None),
        mean_accuracy=mean,
        ensemble_accuracy=ens,
        effect=mean.delta,
        test=judgement.test if judgement else None,
        prob_superiority=prob_superiority(ours, theirs) if baseline is not None else None,
        failed_seeds=tuple(sorted(current.failed_seeds)),
        regressed=bool(reasons),
        reasons=tuple(reasons),
        verdict=_verdict(reasons, night, ref, same_data),
        changes=run_changes(current, baseline) if baseline is not None else None,
        test_digests=digests,
        drop_upper_bound=proof.upper,
        detectable_drop=proof.detectable,
        seeds_needed=proof.seeds_needed,
        reference=ref,
        baseline_accepted=accepted if baseline is not None else None,
    )
    return replace(comparison, sentence=sentence(comparison, judgement, night))


def exit_code(cmp: Comparison | None, fail_on: str = FAIL_ON[0]) -> int:
    """The gate's exit code: 4 regressed, 8 inconclusive (0 with fail_on 'regressed'), else 0."""
    said = cmp.outcome() if cmp is not None else NOT_APPLICABLE
    if said == REGRESSED:
        return EXIT_REGRESSION
    if said == INCONCLUSIVE and fail_on == INCONCLUSIVE:
        return EXIT_INCONCLUSIVE
    return EXIT_OK
