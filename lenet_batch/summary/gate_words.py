"""The gate's sentence (pure): numbers, test, evidence, verdict, drift and what changed, in words a person
reads ("inconclusive: -0.1490 with 3 seeds a side, …; this noise needs about 720 seeds a side to tell a drop
of 0.01")."""

from lenet_batch.summary.comparison import INCONCLUSIVE, NOT_COMPARABLE, PASSED, Comparison, changes_text
from lenet_batch.summary.judge import THRESHOLD, Judgement, below_floor
from lenet_batch.summary.power import MAX_SEEDS, POWER


def _changed(cmp: Comparison) -> str:
    """'; changed: lr 0.1 → 0.01', and for a regression with nothing recorded changed, that finding."""
    text = changes_text(cmp.changes)
    if text is None:
        return ""
    if not cmp.changes:
        return f"; {text}: look at the environment" if cmp.regressed else f"; {text}"
    return f"; changed: {text}"


def seeds_text(cmp: Comparison) -> str:
    """'3 seeds a side', or '3 seeds tonight and 4 in the baseline'."""
    ours, theirs = cmp.n_seeds.current, cmp.n_seeds.baseline
    return f"{ours} seeds a side" if ours == theirs else f"{ours} seeds tonight and {theirs} in the baseline"


def _bound(cmp: Comparison) -> str:
    return f"the drop's {cmp.confidence:.0%} upper bound {cmp.drop_upper_bound:.4f}"


def _needed(cmp: Comparison) -> str:
    """How many seeds a side would tell a drop of max_drop at this noise, in words."""
    if cmp.seeds_needed is not None:
        return f"this noise needs about {cmp.seeds_needed} seeds a side to tell a drop of {cmp.max_drop:g}"
    if cmp.min_effect > cmp.max_drop:
        return f"no seed count tells a drop of {cmp.max_drop:g} while min effect is {cmp.min_effect:g}"
    return f"no seed count up to {MAX_SEEDS:,} a side tells a drop of {cmp.max_drop:g} at this noise"


def evidence_words(cmp: Comparison, night: str | None) -> str:
    """'; passed: the drop's 90% upper bound … < max drop 0.01; smallest detectable drop 0.0088 (…)'."""
    parts = []
    if night == PASSED and cmp.drop_upper_bound is not None:
        parts.append(f"passed: {_bound(cmp)} < max drop {cmp.max_drop:g}")
    if night == INCONCLUSIVE:
        said = f"inconclusive: {cmp.effect:+.4f} with {seeds_text(cmp)}"
        parts.append(f"{said}, {_bound(cmp)} >= max drop {cmp.max_drop:g}")
    if cmp.detectable_drop is None:
        parts.append("no seed noise measured, so no detectable drop to give")
    else:
        how = "by the threshold rule" if cmp.applied_rule == THRESHOLD else f"at alpha {cmp.alpha:g}"
        parts.append(f"smallest detectable drop {cmp.detectable_drop:.4f} (power {POWER:g} {how})")
    if night == INCONCLUSIVE:
        parts.append(_needed(cmp))
    return "".join(f"; {part}" for part in parts)


def baseline_words(cmp: Comparison) -> str:
    """'baseline 2026-12-04', or 'baseline 2026-12-04, accepted: lr 0.1 → 0.05, 'faster schedule''."""
    accepted = f", accepted: {cmp.baseline_accepted}" if cmp.baseline_accepted else ""
    return f"baseline {cmp.baseline_run_id}{accepted}"


def sentence(cmp: Comparison, judgement: Judgement | None, night: str | None) -> str:
    """The comparison's sentence; `night` is the night-to-night verdict (None: nothing compared)."""
    failed = list(cmp.failed_seeds)
    floor = below_floor(cmp.mean_accuracy.current, cmp.min_accuracy)
    tail = (f"; {floor}" if floor else "") + (f"; {len(failed)} seed(s) failed: {failed}" if failed else "")
    ref = f"; {cmp.reference.sentence}" if cmp.reference is not None else ""
    if cmp.baseline_run_id is None:
        return f"no baseline ({cmp.baseline_reason}){ref}{tail}"
    if judgement is None:  # another test split: the means are not compared
        ours, theirs = cmp.test_digests or (None, None)
        text = f"{NOT_COMPARABLE}: test data {ours} vs {theirs} of {baseline_words(cmp)}"
        return f"{text}, so accuracy was not compared{ref}{_changed(cmp)}{tail}"
    mean = cmp.mean_accuracy
    change = f"{mean.baseline:.4f} → {mean.current:.4f} ({mean.delta:+.4f})"
    head = f"{baseline_words(cmp)}: mean {change}, {judgement.text}"
    superiority = cmp.prob_superiority
    odds = "" if superiority is None else f"; P(tonight's seed beats the baseline's) = {superiority:.2f}"
    return f"{head}{evidence_words(cmp, night)}{odds}{ref}{_changed(cmp)}{tail}"
