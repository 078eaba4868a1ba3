"""The regression gate: Welch's test against scipy, the rules, the fallbacks, and the verdict in words."""

import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from lenet_batch import config
from lenet_batch.config import GateRule
from lenet_batch.errors import ConfigError
from lenet_batch.summary import gate
from lenet_batch.summary.statistics import spread
from lenet_batch.summary.types import (
    Comparison,
    Disagreement,
    Ensemble,
    MajorityVote,
    RunSummary,
    SeedRow,
)

THRESHOLD = GateRule(rule="threshold", max_drop=0.01)


def scipy_welch(current, baseline):
    """scipy's one-sided Welch test (alternative: current < baseline), warnings of degenerate cases muted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stats.ttest_ind(current, baseline, equal_var=False, alternative="less")


WELCH_CASES = {
    "equal-variances": ([0.80, 0.82, 0.84], [0.85, 0.87, 0.89]),
    "unequal-variances-and-sizes": ([0.870, 0.875, 0.881, 0.868, 0.879], [0.885, 0.879, 0.890]),
    "zero-variance-tonight": ([0.80, 0.80, 0.80], [0.85, 0.86, 0.88]),
    "zero-variance-baseline": ([0.84, 0.85, 0.87, 0.86], [0.86, 0.86]),
    "improvement": ([0.90, 0.91, 0.93], [0.88, 0.89, 0.885]),
    "eight-seeds-within-noise": (
        [0.8825, 0.8791, 0.8850, 0.8802, 0.8777, 0.8833, 0.8810, 0.8795],
        [0.8830, 0.8815, 0.8842, 0.8801, 0.8826, 0.8809, 0.8838, 0.8812],
    ),
}


def welch_by_hand(current, baseline) -> tuple[float, float, float]:
    """(t, Welch-Satterthwaite df, one-sided p) by the textbook formulas (the gate's code before scipy)."""
    x, y = np.asarray(current), np.asarray(baseline)
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    t = (x.mean() - y.mean()) / math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    return t, df, stats.t.cdf(t, df)


@pytest.mark.parametrize("case", WELCH_CASES)
def test_welch_is_the_one_sided_test_of_tonight_below_the_baseline(case):
    current, baseline = WELCH_CASES[case]
    ours, (t, df, p) = gate.welch_less(current, baseline), welch_by_hand(current, baseline)
    assert ours.statistic == pytest.approx(t, rel=1e-12)
    assert ours.df == pytest.approx(df, rel=1e-12)
    assert ours.p_value == pytest.approx(p, rel=1e-9, abs=1e-15)


def test_a_constant_side_raises_no_warning_from_scipy():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning scipy raises would fail here
        assert gate.welch_less([0.80, 0.80, 0.80], [0.85, 0.86, 0.88]) is not None


def test_zero_variance_on_one_side_leaves_the_other_sides_degrees_of_freedom():
    result = gate.welch_less([0.80, 0.80, 0.80], [0.85, 0.86, 0.88, 0.87])
    assert result.df == pytest.approx(3.0)  # n - 1 of the side that varies


@pytest.mark.parametrize(
    "current, baseline",
    [([0.85], [0.86, 0.87]), ([0.85, 0.86], [0.87]), ([0.8, 0.8], [0.9, 0.9]), ([0.9, 0.9], [0.9, 0.9])],
    ids=["one-seed-tonight", "one-seed-baseline", "both-zero-variance-apart", "both-zero-variance-equal"],
)
def test_no_variance_to_test_gives_no_welch_result(current, baseline):
    # scipy answers nan (one seed; equal constants) or t = -inf, p = 0 (distinct constants): no noise was
    # measured, so the gate does not pretend to a p-value and falls back to the threshold rule instead.
    theirs = scipy_welch(current, baseline)
    assert math.isnan(theirs.pvalue) or math.isinf(theirs.statistic)
    assert gate.welch_less(current, baseline) is None


@pytest.mark.parametrize(
    "current, baseline",
    [([0.1] * 3, [0.2] * 3), ([0.7] * 3, [0.7] * 3), ([0.8123] * 5, [0.91] * 5), ([0.7] * 3, [0.7] * 7)],
    ids=["0.1-vs-0.2", "0.7-vs-0.7", "5-seeds-apart", "3-vs-7-equal"],
)
def test_constant_seeds_whose_mean_rounds_give_no_welch_result(current, baseline):
    # The mean of equal floats can round (3 x 0.1 / 3 != 0.1), leaving a variance of ~1e-33: scipy turns
    # that rounding into t = -4.6e15 (0.1 vs 0.2) or p = 0.04 for two runs of exactly 0.7. No seed noise
    # was measured on either side, so the gate falls back to the threshold rule, as for exact zeros.
    assert np.var(current, ddof=1) + np.var(baseline, ddof=1) > 0  # the rounding is there
    assert gate.welch_less(current, baseline) is None


@pytest.mark.parametrize(
    "current, baseline",
    [([0.8, 0.9], [0.85, 0.9]), ([0.86, 0.87, 0.88], [0.85, 0.87, 0.87, 0.89]), ([0.9], [0.8, 0.95])],
)
def test_probability_of_superiority_is_the_share_of_seed_pairs_ties_half(current, baseline):
    u = stats.mannwhitneyu(current, baseline, alternative="two-sided").statistic
    assert gate.prob_superiority(current, baseline) == pytest.approx(u / (len(current) * len(baseline)))


def test_probability_of_superiority_by_hand():
    # pairs: (0.8, 0.85) lost, (0.8, 0.9) lost, (0.9, 0.85) won, (0.9, 0.9) tie -> 1.5 of 4
    assert gate.prob_superiority([0.8, 0.9], [0.85, 0.9]) == 0.375


def summary_of(accuracies, run_id="tonight", failed=(), ensemble=0.9) -> RunSummary:
    """A run's summary with the parts the gate reads: per-seed accuracies, their mean, the ensemble."""
    accuracies = [float(a) for a in accuracies]
    return RunSummary(
        run_id=run_id,
        seeds=tuple(range(len(accuracies))),
        n_seeds=len(accuracies),
        class_names=(),
        across_seeds=spread(accuracies),
        train_seconds=spread([]),
        per_seed=tuple(SeedRow(run_id, k, 100, a) for k, a in enumerate(accuracies)),
        per_class=(),
        ensemble=Ensemble(ensemble, 100),
        majority_vote=MajorityVote(ensemble),
        disagreement=Disagreement(seeds=(), n_pairs=0),
        confusion_matrix=(),
        failed_seeds=tuple(failed),
    )


def compare(current, baseline, rule=None, failed=()) -> dict:
    """The gate's comparison, as summary.json records it."""
    base = None if baseline is None else summary_of(baseline, run_id="base")
    cmp = gate.compare(summary_of(current, failed=failed), base, rule, why_none="no earlier run")
    return cmp.to_json()


def gate_line(cmp: dict) -> str:
    """The gate's one line for a comparison as summary.json records it."""
    return Comparison.from_json(cmp).line()


def test_welch_gate_records_statistic_df_p_effect_verdict_and_sentence():
    current, baseline = [0.80, 0.81, 0.79], [0.88, 0.885, 0.878]
    cmp = compare(current, baseline)
    theirs = scipy_welch(current, baseline)
    assert cmp["applied_rule"] == "welch" and cmp["fallback"] is None
    assert cmp["test"]["statistic"] == pytest.approx(theirs.statistic)
    assert cmp["test"]["df"] == pytest.approx(theirs.df)
    assert cmp["test"]["p_value"] == pytest.approx(theirs.pvalue)
    assert cmp["effect"] == pytest.approx(np.mean(current) - np.mean(baseline))
    assert cmp["verdict"] == "regressed" and cmp["regressed"]
    assert "Welch one-sided t-test" in cmp["sentence"] and "regression beyond seed noise" in cmp["sentence"]
    assert gate_line(cmp).startswith("gate: REGRESSED — baseline base: mean 0.8810 → 0.8000 (-0.0810)")
    json.dumps(cmp, allow_nan=False)


def test_the_issues_example_reads_within_seed_noise():
    current = [0.8790 + d for d in (-0.004, 0.003, 0.001, 0.0)]
    baseline = [0.8825 + d for d in (0.004, -0.003, -0.001, 0.0)]
    cmp = compare(current, baseline)
    assert cmp["verdict"] == "passed"
    line = gate_line(cmp)
    assert line.startswith("gate: passed — baseline base: mean 0.8825 → 0.8790 (-0.0035), Welch one-sided")
    # tonight's 0.882 beats two of the baseline's seeds and 0.880 one: 3 of 16 pairs
    assert "within seed noise; passed: the drop's 90% upper bound 0.00" in line
    assert line.endswith("(power 0.8 at alpha 0.01); P(tonight's seed beats the baseline's) = 0.19")


@pytest.mark.parametrize(
    "current, baseline, min_effect, verdict, words",
    [
        ([0.8799, 0.8800, 0.8801], [0.8809, 0.8810, 0.8811], 0.002, "passed", "too small to count"),
        ([0.8789, 0.8790, 0.8791], [0.8809, 0.8810, 0.8811], 0.002, "regressed", "regression beyond"),
        # not significant, but a drop of 0.01 at a std of 0.02 cannot be ruled out either
        ([0.86, 0.88, 0.90], [0.87, 0.89, 0.91], 0.002, "inconclusive", "within seed noise"),
        ([0.90, 0.91, 0.92], [0.87, 0.88, 0.89], 0.002, "passed", "no drop"),
    ],
    ids=["significant-but-small", "drop-exactly-min-effect", "within-noise", "improved"],
)
def test_welch_gate_needs_both_significance_and_effect(current, baseline, min_effect, verdict, words):
    cmp = compare(current, baseline, GateRule(min_effect=min_effect))
    assert cmp["verdict"] == verdict and cmp["regressed"] is (verdict == "regressed")
    assert words in cmp["sentence"] and cmp["applied_rule"] == "welch"


def test_alpha_is_the_p_value_threshold():
    current, baseline = [0.86, 0.87, 0.865], [0.875, 0.88, 0.872]
    p = scipy_welch(current, baseline).pvalue
    # every seed is below every baseline seed: a max drop above the drop (0.0117) keeps the separation
    # rule out, so that alpha alone decides
    assert compare(current, baseline, GateRule(alpha=p * 1.01, max_drop=0.02))["regressed"]
    assert not compare(current, baseline, GateRule(alpha=p * 0.99, max_drop=0.02))["regressed"]


@pytest.mark.parametrize(
    "current, baseline, regressed, why",
    [
        ([0.80], [0.88, 0.885], True, "needs 2 seeds on each side, tonight has 1 and the baseline 2"),
        ([0.875], [0.88, 0.885], False, "needs 2 seeds on each side, tonight has 1 and the baseline 2"),
        ([0.87, 0.88], [0.90], True, "tonight has 2 and the baseline 1"),
        ([0.85, 0.85], [0.90, 0.90], True, "no seed variance on either side"),
        ([0.895, 0.895], [0.90, 0.90], False, "no seed variance on either side"),
    ],
)
def test_without_variance_the_threshold_rule_applies_and_says_why(current, baseline, regressed, why):
    cmp = compare(current, baseline)
    assert cmp["rule"] == "welch" and cmp["applied_rule"] == "threshold" and cmp["test"] is None
    assert why in cmp["fallback"] and why in cmp["sentence"]
    assert cmp["regressed"] is regressed and "threshold rule (max drop 0.01; " in cmp["sentence"]


@pytest.mark.parametrize(
    "current, baseline_mean, regressed",
    [(0.87, 0.90, True), (0.89, 0.90, False), (0.8901, 0.90, False), (0.92, 0.90, False)],
    ids=["drop-0.03", "drop-exactly-max", "drop-under-max", "improved"],
)
def test_threshold_rule_regresses_only_on_a_drop_beyond_max_drop(current, baseline_mean, regressed):
    cmp = compare([current, current + 0.002], [baseline_mean, baseline_mean + 0.002], THRESHOLD)
    assert cmp["regressed"] is regressed and bool(cmp["reasons"]) is regressed
    assert cmp["applied_rule"] == "threshold" and cmp["fallback"] is None and cmp["test"] is None
    assert cmp["mean_accuracy"]["delta"] == pytest.approx(current - baseline_mean)


def test_without_a_baseline_the_verdict_is_not_applicable_not_passed():
    cmp = compare([0.88, 0.89], None)
    assert cmp["verdict"] == "n/a" and not cmp["regressed"] and cmp["baseline_run_id"] is None
    assert cmp["mean_accuracy"]["delta"] is None and cmp["prob_superiority"] is None
    assert gate_line(cmp) == "gate: n/a (no baseline): no earlier run"


@pytest.mark.parametrize("rule", [None, THRESHOLD])
@pytest.mark.parametrize("baseline", [None, [0.80, 0.81]])
def test_failed_seeds_regress_under_every_rule(rule, baseline):
    cmp = compare([0.88, 0.89], baseline, rule, failed=[3])
    assert cmp["regressed"] and cmp["verdict"] == "regressed" and cmp["failed_seeds"] == [3]
    assert "1 seed(s) failed: [3]" in cmp["sentence"] and gate_line(cmp).startswith("gate: REGRESSED")


def test_the_ensemble_delta_is_reported_not_gated():
    current, base = summary_of([0.88, 0.89]), summary_of([0.88, 0.89], run_id="base", ensemble=0.95)
    cmp = gate.compare(current, base)
    assert cmp.ensemble_accuracy.delta == pytest.approx(-0.05) and not cmp.regressed


def test_a_summary_json_from_before_the_verdict_still_reads():
    fields = {"rule": "welch", "alpha": 0.01, "min_effect": 0.002, "max_drop": 0.01, "applied_rule": None}
    fields |= {"fallback": None, "n_seeds": {"current": 2}, "mean_accuracy": {"current": 0.9}}
    fields |= {"ensemble_accuracy": {"current": 0.9}, "effect": None, "test": None, "prob_superiority": None}
    fields |= {"baseline_reason": None}
    old = Comparison.from_json({"baseline_run_id": "b", "regressed": False, "reasons": [], **fields})
    assert old.outcome() == "passed" and old.line() == "gate: passed"
    none = Comparison.from_json({"baseline_run_id": None, "regressed": False, **fields})
    assert none.outcome() == "n/a"


@pytest.mark.parametrize(
    "values, flag",
    [
        ({"gate": "bayes"}, "--gate"),
        ({"alpha": 0.0}, "--alpha"),
        ({"alpha": 1.0}, "--alpha"),
        ({"alpha": float("nan")}, "--alpha"),
        ({"min_effect": -0.001}, "--min-effect"),
        ({"max_drop": -0.01}, "--max-drop"),
    ],
)
def test_gate_settings_are_validated(values, flag):
    with pytest.raises(ConfigError, match=flag):
        config.resolve(values, env={})


def test_gate_settings_come_from_the_environment_and_reach_the_rule():
    settings = config.resolve({}, env={"LENET_BATCH_GATE": "threshold", "LENET_BATCH_ALPHA": "0.05"})
    assert settings.gate_rule() == GateRule("threshold", 0.05, 0.002, 0.01)
    assert config.resolve({}, env={}).baseline == "previous"
