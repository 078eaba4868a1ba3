"""The gate's records in summary.json: tonight against its baseline (and its reference night), the test, the
evidence, the verdict and the sentence saying so (lenet_batch/summary/gate.py makes them).

Version 4 of summary.json added the verdict `inconclusive`, the rule's `confidence` and `min_accuracy`, the
evidence (`drop_upper_bound`, `detectable_drop`, `seeds_needed`), the `reference` comparison and
`baseline_accepted` (the baseline night was accepted by hand); in older documents these read as None: not
computed, since the gate of that version did not.
"""

from dataclasses import dataclass

from lenet_batch.json_records import JsonRecord
from lenet_batch.state.manifest import Change, changes_text  # what changed: the manifests' comparison

PASSED, REGRESSED, INCONCLUSIVE = "passed", "regressed", "inconclusive"
NOT_APPLICABLE = "n/a"  # no baseline
NOT_COMPARABLE = "not comparable"  # the gate's verdict for runs scored on different test data
DRIFT = "drift"  # the chip of a night that regressed only against its reference night
# The gate's verdicts ("" in summary.json files written before the verdict was recorded).
VERDICTS = (PASSED, REGRESSED, INCONCLUSIVE, NOT_APPLICABLE, NOT_COMPARABLE, "")
__all__ = ["Change", "changes_text"]  # and the records defined here


@dataclass(frozen=True)
class Delta(JsonRecord):
    """A number tonight and in the baseline, and their difference (None when either is missing)."""

    current: float | None
    baseline: float | None = None
    delta: float | None = None


@dataclass(frozen=True)
class WelchTest(JsonRecord):
    """One-sided Welch t-test of "tonight's mean is lower than the baseline's"."""

    statistic: float  # (mean tonight - mean baseline) / its standard error
    df: float  # Welch-Satterthwaite degrees of freedom
    p_value: float  # P(T <= statistic) under equal means


@dataclass(frozen=True)
class SeedCounts(JsonRecord):
    """Seeds with an accuracy tonight and in the baseline (None: no baseline)."""

    current: int
    baseline: int | None = None


@dataclass(frozen=True)
class ReferenceCheck(JsonRecord):
    """Tonight against its reference night (the oldest passed or accepted one in --reference-window): drift
    beyond max_drop that night-to-night steps each too small to fail would let through."""

    run_id: str
    n_seeds: SeedCounts
    mean_accuracy: Delta  # baseline: the reference's
    applied_rule: str | None = None  # welch, separation or threshold; None: not comparable
    test: WelchTest | None = None
    drop_upper_bound: float | None = None  # the drop since the reference, upper bound at the confidence
    verdict: str = PASSED  # passed, drift, inconclusive or not comparable
    sentence: str = ""


@dataclass(frozen=True)
class Comparison(JsonRecord):
    """Tonight against its baseline run: the numbers, the test, the verdict and the sentence saying so."""

    baseline_run_id: str | None
    baseline_reason: str | None  # why there is no baseline (None when there is one)
    rule: str  # the rule asked for, and its parameters
    alpha: float
    min_effect: float
    max_drop: float
    applied_rule: str | None  # welch, separation, or threshold (also welch's fallback); None: not compared
    fallback: str | None
    n_seeds: SeedCounts
    mean_accuracy: Delta
    ensemble_accuracy: Delta
    effect: float | None
    test: WelchTest | None
    prob_superiority: float | None
    failed_seeds: tuple[int, ...] = ()
    regressed: bool = False
    reasons: tuple[str, ...] = ()
    verdict: str = ""  # passed, regressed, inconclusive, n/a or not comparable ("" before it was recorded)
    sentence: str = ""
    changes: tuple[Change, ...] | None = None  # run vs baseline (empty: none); None: no baseline or records
    test_digests: tuple[str | None, str | None] | None = None  # (tonight's, the baseline's) test split
    confidence: float | None = None  # the level of drop_upper_bound (None: before version 4)
    min_accuracy: float | None = None  # the floor under tonight's mean (None: none)
    drop_upper_bound: float | None = None  # the drop's one-sided upper bound; None: no noise to bound with
    detectable_drop: float | None = None  # the smallest drop the rule catches at power 0.8 at this noise
    seeds_needed: int | None = None  # seeds a side that would tell a drop of max_drop at this noise
    reference: ReferenceCheck | None = None  # tonight against its reference night; None: none given
    baseline_accepted: str | None = None  # the baseline was accepted by hand: what changed then, and why

    def outcome(self) -> str:
        """regressed, passed, inconclusive, n/a or not comparable (also for a summary.json from before the
        verdict was recorded)."""
        if self.verdict:
            return self.verdict
        if self.regressed:
            return REGRESSED
        return PASSED if self.baseline_run_id else NOT_APPLICABLE

    def chip(self) -> str:
        """The verdict's short word for the pages: the outcome, or drift for a night that regressed only
        against its reference."""
        drifted = self.reference is not None and self.reference.verdict == DRIFT
        return DRIFT if self.outcome() == REGRESSED and drifted and len(self.reasons) == 1 else self.outcome()

    def line(self) -> str:
        """One line: "gate: passed — <sentence>", "gate: REGRESSED — …", "gate: INCONCLUSIVE — …", or
        "gate: n/a (no baseline): why"."""
        said = self.outcome()
        if said == NOT_APPLICABLE:
            return f"gate: n/a (no baseline): {self.baseline_reason or 'nothing to compare with'}"
        if said == NOT_COMPARABLE:
            return f"gate: {self.sentence}"
        text = self.sentence or "; ".join(self.reasons)
        shown = said.upper() if said in (REGRESSED, INCONCLUSIVE) else said
        return f"gate: {shown}" + (f" — {text}" if text else "")
