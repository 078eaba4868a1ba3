"""Simulated nights for the gate: per-seed accuracies drawn from known distributions, judged one after another
as the nightly will judge them.

Each night's baseline is the latest earlier night whose verdict was passed (the first night, with nothing
before it, starts the line as an accepted night would); its reference is the oldest such night within the
window of nights before it. A regressed or inconclusive night is never either.
"""

from dataclasses import dataclass

import numpy as np

from lenet_batch.config import GateRule
from lenet_batch.summary import gate
from lenet_batch.summary.comparison import PASSED, Comparison
from tests.test_gate import summary_of

FULL_DATA_STD = 0.003  # seed-to-seed std of test accuracy on the full data, 10 epochs
TEST_IMAGES = 10_000  # a seed's accuracy is a multiple of 1/10,000


@dataclass(frozen=True)
class Judged:
    """One night's verdict and the nights it was judged against (indexes into the sequence)."""

    night: int
    baseline: int
    reference: int | None
    comparison: Comparison


def draw(rng: np.random.Generator, mean: float, std: float, seeds: int) -> list[float]:
    """Per-seed test accuracies: normal around `mean`, on the test split's 1/10,000 grid, within [0, 1]."""
    values = np.clip(rng.normal(mean, std, seeds), 0.0, 1.0)
    return [round(float(v) * TEST_IMAGES) / TEST_IMAGES for v in values]


def pick(verdicts: list[str], night: int, window: int) -> tuple[int, int | None]:
    """(baseline, reference) of `night`: the latest earlier passed night, and the oldest passed night among
    the `window` nights before it (None: none within the window). Night 0 counts as passed."""
    passed = [k for k in range(night) if k == 0 or verdicts[k] == PASSED]
    in_window = [k for k in passed if k >= night - window]
    return passed[-1], (in_window[0] if in_window else None)


def drive(nights: list[list[float]], rule: GateRule | None = None, window: int = 7) -> list[Judged]:
    """Judge nights 1.. of a sequence, each against the baseline and reference `pick` chooses."""
    rule = rule or GateRule()
    summaries = [summary_of(seeds, run_id=f"night-{k}") for k, seeds in enumerate(nights)]
    verdicts, judged = ["start"], []
    for k in range(1, len(nights)):
        base, ref = pick(verdicts, k, window)
        reference = summaries[ref] if ref is not None else None
        cmp = gate.compare(summaries[k], summaries[base], rule, reference=reference)
        verdicts.append(cmp.outcome())
        judged.append(Judged(k, base, ref, cmp))
    return judged


def step_alone(nights: list[list[float]], k: int, rule: GateRule | None = None) -> str:
    """Night k against the night before it and nothing else: the sliding gate this one replaces."""
    before, tonight = summary_of(nights[k - 1], run_id=f"night-{k - 1}"), summary_of(nights[k])
    return gate.compare(tonight, before, rule or GateRule()).outcome()


def first_failure(judged: list[Judged]) -> int | None:
    """The first night whose verdict is not passed (regressed or inconclusive: a non-zero exit)."""
    return next((j.night for j in judged if j.comparison.outcome() != PASSED), None)


def rates(outcomes: list[str]) -> dict[str, float]:
    """The share of each verdict."""
    return {word: outcomes.count(word) / len(outcomes) for word in sorted(set(outcomes))}
