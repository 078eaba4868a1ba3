"""What the gate says it can tell, checked by simulation: the detectable drop has the power it claims, the
seeds needed are the fewest that tell a drop of max_drop, the drop's upper bound covers the true drop as
often as its confidence says; and the words, exit codes, settings and older summary.json files around it.
Run with -s for the simulated rates."""

import dataclasses
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from lenet_batch import config
from lenet_batch.config import GateRule
from lenet_batch.errors import ConfigError
from lenet_batch.summary import gate, power
from lenet_batch.summary.power import Noise
from lenet_batch.summary.types import Comparison, RunSummary
from tests.test_gate import summary_of

DATA = Path(__file__).parent / "data"


def noise_of(n: int, sigma: float, m: int | None = None, sigma_b: float | None = None) -> Noise:
    """The noise of n seeds tonight at a per-seed std of sigma, and m at sigma_b in the baseline (same)."""
    m, sigma_b = m or n, sigma if sigma_b is None else sigma_b
    e1, e2 = sigma**2 / n, sigma_b**2 / m
    df = (e1 + e2) ** 2 / (e1**2 / (n - 1) + e2**2 / (m - 1)) if e1 + e2 > 0 else n + m - 2.0
    return Noise(math.sqrt(e1 + e2), df, math.sqrt((sigma**2 + sigma_b**2) / 2), ((sigma, n), (sigma_b, m)))


def simulated_power(noise: Noise, drop: float, rng: np.random.Generator, min_effect: float = 0.0) -> float:
    """The share of 8,000 simulated nights with these true deviations and seed counts, and a true drop,
    that the gate's Welch rule (p < 0.01 and a drop of at least min_effect) calls a regression."""
    (sd1, n1), (sd2, n2) = noise.sides
    tonight = rng.normal(0.88 - drop, sd1, (8000, n1))
    base = rng.normal(0.88, sd2, (8000, n2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = stats.ttest_ind(tonight, base, axis=1, equal_var=False, alternative="less").pvalue
    return float(np.mean((p < 0.01) & (base.mean(axis=1) - tonight.mean(axis=1) >= min_effect)))


@pytest.mark.parametrize(
    "noise",
    [noise_of(2, 0.003), noise_of(3, 0.003), noise_of(4, 0.003), noise_of(8, 0.003), noise_of(4, 0.03)]
    + [noise_of(3, 0.004, 6, 0.002), noise_of(5, 0.001, 2, 0.005)],
    ids=["2", "3", "4", "8", "4-noisy", "3-vs-6", "5-vs-2"],
)
def test_the_detectable_drop_is_caught_four_times_in_five(noise):
    rng = np.random.default_rng(noise.sides[0][1] * 10 + noise.sides[1][1])
    drop = power.welch_detectable(noise, alpha=0.01, min_effect=0.0)
    caught = simulated_power(noise, drop, rng)
    # what the two shortcuts would have claimed: the noncentral t at n1 + n2 - 2 df, and the normal
    df = noise.sides[0][1] + noise.sides[1][1] - 2.0
    nct = float(special.nctdtrinc(df, 0.2, special.stdtrit(df, 0.99))) * noise.se
    z = float(special.ndtri(0.99) + special.ndtri(0.8)) * noise.se
    shortcuts = (
        f"noncentral t {nct:.4f} caught {simulated_power(noise, nct, rng):.3f}, "
        f"normal {z:.4f} caught {simulated_power(noise, z, rng):.3f}"
    )
    print(f"\n  {noise.sides}: drop {drop:.4f} caught {caught:.3f}; {shortcuts}")
    assert 0.77 <= caught <= 0.83
    assert z < drop and (nct < drop or df > 10)


def test_the_detectable_drop_counts_min_effect_too():
    noise = noise_of(16, 0.001)
    drop = power.welch_detectable(noise, alpha=0.01, min_effect=0.002)
    caught = simulated_power(noise, drop, np.random.default_rng(3), min_effect=0.002)
    print(f"\n  16 seeds a side, std 0.001, min effect 0.002: drop {drop:.4f} caught {caught:.3f}")
    assert drop > 0.002 and 0.77 <= caught <= 0.83


@pytest.mark.parametrize("sigma", [0.003, 0.006, 0.02, 0.06])
def test_seeds_needed_are_the_fewest_that_tell_a_drop_of_max_drop(sigma):
    n = power.seeds_needed(noise_of(4, sigma), alpha=0.01, min_effect=0.002, max_drop=0.01)
    assert n is not None and n >= power.MIN_SEEDS
    assert power.welch_detectable(noise_of(n, sigma), 0.01, 0.002) <= 0.01
    if n > power.MIN_SEEDS:
        assert power.welch_detectable(noise_of(n - 1, sigma), 0.01, 0.002) > 0.01
    caught = simulated_power(noise_of(n, sigma), 0.01, np.random.default_rng(n), min_effect=0.002)
    print(f"\n  sigma={sigma}: {n} seeds a side catch a drop of 0.01 in {caught:.3f} of nights")
    assert caught >= 0.78


def test_seeds_needed_says_none_when_no_count_would_do():
    assert power.seeds_needed(noise_of(4, 0.003), 0.01, min_effect=0.02, max_drop=0.01) is None
    assert power.seeds_needed(noise_of(4, 30.0), 0.01, 0.002, max_drop=0.01) is None  # > MAX_SEEDS
    assert power.seeds_needed(noise_of(4, 0.0), 0.01, 0.002, 0.01) == power.MIN_SEEDS


@pytest.mark.parametrize("n", [2, 3, 4, 8])
@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95])
def test_the_drops_upper_bound_covers_the_true_drop_as_often_as_its_confidence(n, confidence):
    rng = np.random.default_rng(int(n * 100 * confidence))
    true_drop, covered = 0.005, 0
    for _ in range(2000):
        base, tonight = rng.normal(0.88, 0.01, n), rng.normal(0.88 - true_drop, 0.01, n)
        noise = power.measured_noise(tonight.tolist(), base.tolist())
        covered += power.upper_bound(base.mean() - tonight.mean(), noise, confidence) >= true_drop
    print(f"\n  n={n}: the {confidence:.0%} upper bound covered the true drop in {covered / 2000:.3f}")
    # Welch's bound is a little conservative at 2 seeds a side (its df estimate is low), never short
    assert confidence - 0.025 <= covered / 2000 <= confidence + 0.04


@pytest.mark.parametrize(
    "current, baseline, verdict",
    [
        ([0.8790, 0.8820, 0.8800, 0.8790], [0.8865, 0.8795, 0.8815, 0.8825], "passed"),
        ([0.8789, 0.8790, 0.8791], [0.8809, 0.8810, 0.8811], "regressed"),
        ([0.4653, 0.4953, 0.6153], [0.6143, 0.6743, 0.7343], "inconclusive"),  # the issue's -0.149
        ([0.80], [0.88, 0.885], "regressed"),  # the threshold rule: 1 seed tonight
    ],
)
def test_every_verdict_says_the_smallest_drop_it_could_detect(current, baseline, verdict):
    cmp = gate.compare(summary_of(current), summary_of(baseline, run_id="base"))
    assert cmp.outcome() == verdict and cmp.detectable_drop is not None
    assert f"smallest detectable drop {cmp.detectable_drop:.4f} (power 0.8 " in cmp.line()
    assert ("by the threshold rule" in cmp.line()) is (cmp.applied_rule == "threshold")
    if verdict == "passed":
        assert cmp.drop_upper_bound < cmp.max_drop and "passed: the drop's 90% upper bound" in cmp.line()


def test_an_inconclusive_night_says_how_many_seeds_a_side_would_settle_it():
    cmp = gate.compare(summary_of([0.4653, 0.4953, 0.6153]), summary_of([0.6143, 0.6743, 0.7343], "base"))
    assert cmp.outcome() == "inconclusive" and not cmp.regressed and cmp.drop_upper_bound >= 0.01
    assert cmp.seeds_needed == power.seeds_needed(
        power.measured_noise([0.4653, 0.4953, 0.6153], [0.6143, 0.6743, 0.7343]), 0.01, 0.002, 0.01
    )
    line = cmp.line()
    assert line.startswith("gate: INCONCLUSIVE — baseline base: mean 0.6743 → 0.5253 (-0.1490)")
    assert "inconclusive: -0.1490 with 3 seeds a side, the drop's 90% upper bound " in line
    assert f"this noise needs about {cmp.seeds_needed} seeds a side to tell a drop of 0.01" in line
    unequal = gate.compare(summary_of([0.50, 0.66]), summary_of([0.62, 0.64, 0.70], "base")).line()
    assert "with 2 seeds tonight and 3 in the baseline" in unequal


def test_with_one_seed_a_side_no_noise_is_measured_and_the_threshold_rule_says_so():
    cmp = gate.compare(summary_of([0.875]), summary_of([0.88], run_id="base"))
    assert cmp.outcome() == "passed" and cmp.applied_rule == "threshold" and cmp.detectable_drop is None
    assert "needs 2 seeds on each side" in cmp.line() and "no seed noise measured" in cmp.line()
    assert cmp.drop_upper_bound is None and cmp.seeds_needed is None


@pytest.mark.parametrize(
    "current, fail_on, code",
    [
        ([0.8789, 0.8790, 0.8791], "inconclusive", 4),
        ([0.8789, 0.8790, 0.8791], "regressed", 4),
        ([0.80, 0.87, 0.90], "inconclusive", 8),
        ([0.80, 0.87, 0.90], "regressed", 0),  # inconclusive still, in every record
        ([0.8809, 0.8810, 0.8811], "inconclusive", 0),
    ],
)
def test_the_exit_code_follows_the_verdict_and_fail_on(current, fail_on, code):
    cmp = gate.compare(summary_of(current), summary_of([0.8809, 0.8810, 0.8811], run_id="base"))
    assert gate.exit_code(cmp, fail_on) == code
    assert gate.exit_code(None, fail_on) == 0 and gate.exit_code(dataclasses.replace(cmp, verdict="n/a")) == 0


def test_drift_since_the_reference_regresses_a_night_the_night_to_night_gate_passes():
    spread = (0.004, -0.003, -0.001, 0.0)  # std 0.003: a step of 0.005 is within seed noise
    reference = summary_of([0.885 + d for d in spread], run_id="ref")
    baseline = summary_of([0.880 - d for d in spread], run_id="base")
    tonight = summary_of([0.875 + d for d in spread])
    alone = gate.compare(tonight, baseline)
    cmp = gate.compare(tonight, baseline, reference=reference)
    assert alone.outcome() == "passed"
    assert cmp.outcome() == "regressed" and cmp.chip() == "drift" and cmp.reference.verdict == "drift"
    assert cmp.reasons == (cmp.reference.sentence,) and cmp.reference.run_id == "ref"
    assert cmp.reference.sentence.startswith("drift since ref: mean 0.8850 → 0.8750 (-0.0100), Welch")
    assert "drift since ref" in cmp.line() and cmp.reference.mean_accuracy.baseline == pytest.approx(0.885)
    assert Comparison.from_json(json.loads(json.dumps(cmp.to_json(), allow_nan=False))) == cmp


def test_a_reference_on_other_test_data_is_not_compared():
    from lenet_batch.summary.types import ScoredInput

    ref = dataclasses.replace(summary_of([0.95] * 3, "ref"), scored=ScoredInput("t", None, "a" * 12, 10))
    tonight = dataclasses.replace(
        summary_of([0.88, 0.881, 0.879]), scored=ScoredInput("t", None, "b" * 12, 10)
    )
    cmp = gate.compare(tonight, summary_of([0.88, 0.882, 0.879], "base"), reference=ref)
    assert cmp.reference.verdict == "not comparable" and cmp.outcome() == "passed"


def test_a_version_3_summary_reads_as_it_was_judged_and_round_trips_as_version_4():
    doc = json.loads((DATA / "summary_v3_passed.json").read_text())  # written by the gate of version 3
    old = RunSummary.from_json(doc)
    assert old.schema_version == 3 and old.comparison.outcome() == "passed"  # as recorded, not re-judged
    cmp = old.comparison
    assert (cmp.confidence, cmp.drop_upper_bound, cmp.detectable_drop, cmp.seeds_needed) == (None,) * 4
    assert cmp.reference is None and cmp.line() == f"gate: passed — {doc['comparison']['sentence']}"
    base = summary_of([0.6143, 0.6743, 0.7343], run_id="2026-01-02")
    again = dataclasses.replace(old, comparison=gate.compare(old, base), schema_version=4)
    assert again.comparison.outcome() == "inconclusive"  # the 15-point drop the issue saw pass
    read = RunSummary.from_json(json.loads(json.dumps(again.to_json(), allow_nan=False)))
    assert read == again and read.comparison.confidence == 0.9


@pytest.mark.parametrize(
    "values, flag",
    [
        ({"confidence": 0.4}, "--confidence"),
        ({"confidence": 1.0}, "--confidence"),
        ({"confidence": float("nan")}, "--confidence"),
        ({"min_accuracy": 1.2}, "--min-accuracy"),
        ({"min_accuracy": -0.1}, "--min-accuracy"),
        ({"fail_on": "never"}, "--fail-on"),
        ({"reference_window": 0}, "--reference-window"),
    ],
)
def test_the_new_gate_settings_are_validated_naming_their_flag(values, flag):
    with pytest.raises(ConfigError, match=flag):
        config.resolve(values, env={})


def test_the_new_gate_settings_come_from_flags_environment_and_file_and_reach_the_rule(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('confidence = 0.95\nmin_accuracy = 0.8\nfail_on = "regressed"\nreference_window = 3\n')
    s = config.resolve({}, env={}, config_path=str(path))
    assert s.gate_rule() == GateRule(confidence=0.95, min_accuracy=0.8)
    assert (s.fail_on, s.reference_window) == ("regressed", 3)
    env = {"LENET_BATCH_MIN_ACCURACY": "0.5", "LENET_BATCH_REFERENCE_WINDOW": "14"}
    s = config.resolve({"confidence": 0.8}, env=env, config_path=str(path))
    assert (s.confidence, s.min_accuracy, s.reference_window) == (0.8, 0.5, 14)
    defaults = config.resolve({}, env={})
    assert (defaults.confidence, defaults.min_accuracy, defaults.fail_on, defaults.reference_window) == (
        0.9,
        None,
        "inconclusive",
        7,
    )
