"""The gate over simulated sequences of nights (seeded draws from known distributions; see gate_nights.py):
how often it cries wolf on no change, how soon it stops a slow decay, that a large drop at noisy seeds
never passes, and that no night is judged against a regressed or inconclusive one. Run with -s for rates."""

import numpy as np
import pytest

from lenet_batch.config import GateRule
from tests.gate_nights import FULL_DATA_STD, draw, drive, first_failure, pick, rates, step_alone


@pytest.mark.parametrize("seed", [2026, 29])
def test_null_nights_rarely_regress_and_are_rarely_inconclusive(seed):
    rng = np.random.default_rng(seed)
    outcomes = []
    for _ in range(100):  # 100 sequences of 11 nights: 1,000 nights judged, nothing changed
        nights = [draw(rng, 0.885, FULL_DATA_STD, 4) for _ in range(11)]
        outcomes += [j.comparison.outcome() for j in drive(nights)]
    shares = rates(outcomes)
    print(f"\n  1,000 null nights, std {FULL_DATA_STD}, 4 seeds a side (rng {seed}): {shares}")
    assert len(outcomes) == 1000 and set(shares) <= {"passed", "regressed", "inconclusive"}
    assert shares.get("regressed", 0) <= 0.01, shares
    assert shares.get("inconclusive", 0) <= 0.02, shares


def test_a_decay_of_half_a_point_a_night_fails_within_three_nights_though_each_step_passes():
    rng = np.random.default_rng(7)
    failed_by, drifted_by, unseen_steps, caught_anyway = [], [], 0, 0
    for _ in range(300):
        nights = [draw(rng, 0.885 - 0.005 * k, FULL_DATA_STD, 4) for k in range(6)]
        judged = drive(nights)
        failed_by.append(first_failure(judged) or 99)
        against_reference = [j.comparison.reference.verdict for j in judged if j.comparison.reference]
        drifted_by.append(1 + against_reference.index("drift") if "drift" in against_reference else 99)
        if all(step_alone(nights, k) == "passed" for k in (1, 2, 3)):  # the sliding gate saw nothing
            unseen_steps += 1
            caught_anyway += failed_by[-1] <= 3
    failed_by, drifted_by = np.asarray(failed_by), np.asarray(drifted_by)
    print(
        f"\n  300 decays of 0.005 a night, std {FULL_DATA_STD}, 4 seeds: failed by night 3: "
        f"{np.mean(failed_by <= 3):.3f} (first failure per night: {np.bincount(failed_by[failed_by < 99])});"
        f" drift since night 0 named by night 3: {np.mean(drifted_by <= 3):.3f}; sequences whose "
        f"night-to-night steps 1-3 all pass alone: {unseen_steps}, failed by night 3 all the same: "
        f"{caught_anyway}"
    )
    assert (failed_by <= 3).all()
    assert unseen_steps >= 30 and caught_anyway == unseen_steps


@pytest.mark.parametrize("std", [0.02, 0.04, 0.06])
def test_a_15_point_drop_at_3_noisy_seeds_is_never_passed(std):
    rng = np.random.default_rng(int(std * 1000))
    outcomes = []
    for _ in range(1000):
        nights = [draw(rng, 0.6743, std, 3), draw(rng, 0.5253, std, 3)]  # the epochs 2 -> 1
        outcomes.append(drive(nights)[0].comparison.outcome())
    print(f"\n  1,000 drops of 0.149 at 3 seeds a side, std {std}: {rates(outcomes)}")
    assert "passed" not in outcomes


def test_no_night_is_judged_against_a_regressed_or_inconclusive_night():
    rng = np.random.default_rng(11)
    judged_nights, skipped = 0, 0
    for _ in range(60):
        # regimes: steady, a collapse, a noisy stretch, a recovery; the gate's verdicts decide the line
        means = np.repeat(rng.choice([0.885, 0.86, 0.80], size=4), 3) + rng.normal(0, 0.002, 12)
        stds = np.repeat(rng.choice([FULL_DATA_STD, 0.02], size=4), 3)
        nights = [draw(rng, m, s, int(rng.integers(2, 6))) for m, s in zip(means, stds, strict=True)]
        judged = drive(nights, window=4)
        verdicts = ["start"] + [j.comparison.outcome() for j in judged]
        for j in judged:
            judged_nights += 1
            assert j.baseline == 0 or verdicts[j.baseline] == "passed", (j, verdicts)
            assert j.reference is None or j.reference == 0 or verdicts[j.reference] == "passed"
            assert (j.baseline, j.reference) == pick(verdicts, j.night, 4)
            assert j.comparison.baseline_run_id == f"night-{j.baseline}"
            skipped += j.baseline != j.night - 1
    print(f"\n  {judged_nights} nights judged; {skipped} against an older night than the one before")
    assert skipped > 0  # regressed or inconclusive nights did occur, and were passed over


@pytest.mark.parametrize(
    "floor, tonight, regressed",
    [
        (0.80, [0.79, 0.795, 0.80], True),  # mean 0.795
        (0.80, [0.80, 0.80, 0.80], False),  # at the floor is not below it
        (0.90, [0.885, 0.886, 0.884, 0.885], True),  # a healthy-looking night under a high floor
        (None, [0.10, 0.20, 0.30], False),  # no floor: the gate alone (no baseline here) has no say
    ],
)
def test_the_floor_fails_a_night_below_it_with_or_without_a_baseline(floor, tonight, regressed):
    rule = GateRule(min_accuracy=floor)
    first = drive([tonight, tonight], rule)[0].comparison  # against an identical night
    from lenet_batch.summary import gate
    from tests.test_gate import summary_of

    alone = gate.compare(summary_of(tonight), None, rule, why_none="the first")
    for cmp in (first, alone):
        assert cmp.regressed is regressed and (cmp.outcome() == "regressed") is regressed
        named = f"below the floor {floor:g} (--min-accuracy)" if floor is not None else "--min-accuracy"
        assert (named in cmp.line()) is regressed, cmp.line()
    assert alone.outcome() == ("regressed" if regressed else "n/a")


def test_the_floor_is_the_mean_against_x_over_random_nights():
    rng = np.random.default_rng(5)
    for _ in range(300):
        floor = float(rng.uniform(0.5, 0.9))
        tonight = draw(rng, float(rng.uniform(0.4, 0.95)), 0.02, int(rng.integers(1, 6)))
        cmp = drive([tonight, tonight], GateRule(min_accuracy=floor))[0].comparison
        below = float(np.mean(tonight)) < floor - 1e-9
        assert ("(--min-accuracy)" in " ".join(cmp.reasons)) is below
        assert not below or cmp.outcome() == "regressed"
