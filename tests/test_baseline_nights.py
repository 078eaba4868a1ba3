"""The baseline and the reference over sequences of nights, as the real search (summary/baseline.py) finds
them on nights written to an output: the baseline is the latest earlier night that passed (or had nothing to
compare with) or was accepted, never a regressed, inconclusive, failed, interrupted or damaged one; the
reference is the oldest such night within --reference-window, never older than an acceptance. Random
sequences, each checked night by night against that rule written out independently here.
"""

from dataclasses import dataclass

import numpy as np
import pytest

from lenet_batch.config import Settings
from lenet_batch.pipeline.verdicts import accept
from lenet_batch.store.layout import Layout
from tests.history_helpers import run_id
from tests.verdict_helpers import recorded, write_night

GOOD_VERDICTS = ("passed", "n/a")  # a night that ended ok; "not comparable" needs other test data


@dataclass
class Night:
    kind: str  # judged, failed, interrupted or damaged
    verdict: str | None = None  # the gate's, for a judged night
    accepted: bool = False


def expected(nights: list[Night], window: int, stops: bool = True) -> tuple[int | None, int | None]:
    """(baseline, reference) of the night after `nights` by the rule (indexes; None: none); `stops`: an
    acceptance ends the search (False: what the reference would be if it did not)."""
    k = len(nights)
    good = [
        j for j, n in enumerate(nights) if n.kind == "judged" and (n.verdict in GOOD_VERDICTS or n.accepted)
    ]
    if not good:
        return None, None
    base = good[-1]
    stop = max([-1, *(j for j in good if nights[j].accepted and stops)])
    older = [j for j in good if max(stop, k - window) <= j < base]
    return base, (min(older) if older and base >= k - window else None)


def random_night(rng: np.random.Generator) -> tuple[str, list[float]]:
    """A night's kind and its seeds' accuracies: regimes steady, collapsed and noisy, so that the gate says
    passed, regressed and inconclusive."""
    kind = rng.choice(["judged"] * 9 + ["failed", "interrupted", "damaged"])
    mean, std = rng.choice([0.88, 0.875, 0.80]), rng.choice([0.002, 0.02])
    return str(kind), np.clip(rng.normal(mean, std, int(rng.integers(2, 6))), 0, 1).round(4).tolist()


@pytest.mark.parametrize("seed", range(5))
def test_the_baseline_and_reference_follow_the_rule_over_random_nights(tmp_path, seed):
    rng = np.random.default_rng(seed)
    window = int(rng.integers(2, 6))
    layout, nights, seen = Layout(str(tmp_path / f"out{seed}")), [], set()
    for k in range(16):
        judged = [j for j, n in enumerate(nights) if n.kind == "judged"]
        if judged and rng.random() < 0.2:  # an operator accepts an earlier night that ran to its verdict
            j = int(rng.choice(judged))
            accept(Settings(output=layout.output, run_id=run_id(j)), reason=f"change {k}")
            nights[j].accepted = True
        kind, accuracies = random_night(rng)
        write_night(layout, k, accuracies, kind=kind, window=window)
        if kind != "judged":
            nights.append(Night(kind))
            continue
        cmp = recorded(layout, run_id(k))
        base, ref = expected(nights, window)
        assert cmp["baseline_run_id"] == (run_id(base) if base is not None else None), (k, nights)
        assert (cmp["reference"] or {}).get("run_id") == (run_id(ref) if ref is not None else None), (
            k,
            nights,
        )
        if base is not None:
            assert nights[base].verdict in GOOD_VERDICTS or nights[base].accepted
        seen |= {"passed over"} if base is not None and base < k - 1 else set()
        seen |= {"reference"} if ref is not None else set()
        seen |= {"cut by an acceptance"} if expected(nights, window, stops=False)[1] != ref else set()
        nights.append(Night(kind, cmp["verdict"]))
    print(f"\n  seed {seed}, window {window}: {[(n.kind, n.verdict, n.accepted) for n in nights]}, {seen}")
    assert {"passed over", "reference"} <= seen  # the sequence did exercise the rule


def test_some_sequence_has_its_reference_cut_by_an_acceptance(tmp_path):
    # The random sequences above are checked against the rule; this one makes sure an acceptance in the
    # window does end the reference's search: nights 0-2 pass, night 3 (a new recipe) is accepted.
    layout = Layout(str(tmp_path / "out"))
    for k in range(3):
        write_night(layout, k, [0.880, 0.882, 0.878])
    write_night(layout, 3, [0.800, 0.802, 0.798], lr=0.05)
    accept(Settings(output=layout.output, run_id=run_id(3)), reason="new recipe")
    for k in range(4, 7):
        write_night(layout, k, [0.800, 0.801, 0.799], lr=0.05)
        cmp = recorded(layout, run_id(k))
        assert cmp["baseline_run_id"] == run_id(k - 1) and cmp["verdict"] == "passed"
        assert (cmp["reference"] or {}).get("run_id") == (run_id(3) if k > 4 else None)  # never night 0-2
