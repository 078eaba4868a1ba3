"""The gate on real nights (issue 29's "done when"): 3 seeds at 2 epochs, then 3 seeds at 1 epoch, then 3
seeds at 2 epochs again, each a `lenet-batch nightly` that starts its own local Ray, on a small real-data
subset (6,000 train / 1,000 test images, batch 64, lr 0.1: a seed learns to about 0.70 in one epoch and 0.77
in two, far above the 0.12 of a seed that did not learn). The second night is regressed or inconclusive
(never passed: its drop of about 0.07 is far beyond --max-drop) and exits so; `check` says the same with the
same code; the third night is compared with the first, not with the night that fell.
"""

import json

import pytest

from tests import helpers

pytestmark = pytest.mark.slow

EXITS = {"passed": 0, "regressed": 4, "inconclusive": 8}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, fashion_mnist) -> str:
    folder = tmp_path_factory.mktemp("gate-nights-data")
    helpers.write_dataset(folder, fashion_mnist, n_train=6_000, n_test=1_000)
    return str(folder)


def nightly(out, data_dir: str, run_id: str, epochs: int):
    """One night of 3 seeds through the CLI (a local Ray started by the nightly): (its document, exit)."""
    done = helpers.run_cli(
        *("nightly", "--output", str(out), "--run-id", run_id, "--data", data_dir, "--no-verify"),
        *("--seeds", "0-2", "--epochs", str(epochs), "--batch-size", "64", "--lr", "0.1", "--json"),
    )
    assert done.returncode in (0, 4, 8), done.stderr[-3000:]
    return json.loads(done.stdout), done.returncode


def check(out) -> tuple[dict, int]:
    done = helpers.run_cli("check", "--output", str(out), "--json")
    return json.loads(done.stdout), done.returncode


def comparison(out, run_id: str) -> dict:
    return json.loads((out / "runs" / run_id / "summary" / "summary.json").read_text())["comparison"]


def test_a_night_of_fewer_epochs_fails_the_gate_and_the_next_good_night_is_compared_with_the_first(
    data_dir, tmp_path
):
    out = tmp_path / "out"
    _, code = nightly(out, data_dir, "two-epochs", 2)
    assert code == 0 and comparison(out, "two-epochs")["verdict"] == "n/a"

    _, code = nightly(out, data_dir, "one-epoch", 1)
    cmp = comparison(out, "one-epoch")
    print(f"\n  one epoch against two: {cmp['sentence']}")
    assert cmp["verdict"] in ("regressed", "inconclusive") and code == EXITS[cmp["verdict"]]
    assert cmp["baseline_run_id"] == "two-epochs" and "epochs 2 → 1" in cmp["sentence"]
    assert cmp["detectable_drop"] is not None and -cmp["effect"] > 0.03
    health, exit_code = check(out)
    assert (health["state"], exit_code) == (cmp["verdict"], code)
    assert health["night"]["run_id"] == "one-epoch" and health["night"]["outcome"] == cmp["verdict"]

    _, code = nightly(out, data_dir, "two-epochs-again", 2)
    cmp = comparison(out, "two-epochs-again")
    print(f"  two epochs again: {cmp['sentence']}")
    assert cmp["baseline_run_id"] == "two-epochs"  # the night that fell is never a baseline
    assert cmp["verdict"] in ("passed", "inconclusive") and code == EXITS[cmp["verdict"]]
    assert "epochs" not in (cmp["sentence"].split("; changed: ") + [""])[1]  # the same recipe as the first
    health, exit_code = check(out)
    assert exit_code == code and health["night"]["baseline_run_id"] == "two-epochs"
