"""Three real nightlies on a local Ray: same recipe twice (passes), then --lr 0.01 (exit 4, history kept).

The nights are trained once for the module (3 seeds x 1 epoch each on the small real-data subset) and
every test reads what they left behind.
"""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests import helpers
from tests.history_helpers import marks, read_png

pytestmark = pytest.mark.slow


def summary_of(output: Path, run_id: str) -> dict:
    return json.loads((output / "runs" / run_id / "summary" / "summary.json").read_text())


@pytest.fixture(scope="module")
def nights(ray_cluster, small_data_dir, tmp_path_factory):
    """Nightlies "first" (seeds 0-2), "second" (3-5), "third" (6-8, --lr 0.01), then `summary` of second.

    3 seeds of 1 epoch differ by several points: a pass must rule out a drop of --max-drop, so these smoke
    nights allow 0.1 (at the default 0.01 the second night is inconclusive: tests/test_gate_nights.py).
    """
    output = tmp_path_factory.mktemp("nights")
    data = ("--output", str(output), "--data", small_data_dir, "--no-verify", "--max-drop", "0.1")

    def nightly(run_id: str, seeds: str, *extra: str):
        return helpers.run_cli(
            *("nightly", *data, "--run-id", run_id, "--seeds", seeds, "--epochs", "1"),
            *("--address", ray_cluster.address, *extra),
            env=ray_cluster.env(),
        )

    done = {"first": nightly("first", "0-2"), "second": nightly("second", "3-5")}
    done["second_as_written"] = summary_of(output, "second")
    done["third"] = nightly("third", "6-8", "--lr", "0.01")
    done["manual"] = helpers.run_cli("summary", *data, "--run-id", "second")
    return output, done


def test_the_first_night_has_no_baseline_and_says_why(nights):
    _, done = nights
    first = done["first"]
    assert first.returncode == 0, first.stderr[-3000:]
    assert "gate: n/a (no baseline): no earlier run in this output: first is the first" in first.stdout


def test_a_later_night_with_a_new_run_id_compares_with_the_first_and_passes(nights):
    output, done = nights
    second = done["second"]
    assert second.returncode == 0, second.stderr[-3000:]
    cmp = done["second_as_written"]["comparison"]
    assert cmp["baseline_run_id"] == "first" and cmp["verdict"] == "passed"
    assert cmp["applied_rule"] == "welch" and cmp["n_seeds"] == {"current": 3, "baseline": 3}
    assert cmp["test"]["p_value"] >= 0.01 or cmp["effect"] > -0.002
    assert f"gate: passed — {cmp['sentence']}" in second.stdout
    assert f"history: {output}/history/history.html" in second.stdout


def test_a_much_worse_recipe_exits_4_naming_the_test_and_still_writes_report_and_history(nights):
    output, done = nights
    third = done["third"]
    assert third.returncode == 4, third.stderr[-3000:]
    error = third.stderr.strip().splitlines()[-1]
    assert error.startswith("lenet-batch nightly: error: run third: gate: REGRESSED — baseline second: mean ")
    assert "Welch one-sided t-test" in error and "regression beyond seed noise" in error
    assert (output / "runs" / "third" / "summary" / "report.html").is_file()
    table = pq.read_table(output / "history" / "runs.parquet").to_pylist()
    assert {r["run_id"]: r["gate_verdict"] for r in table} == {
        "first": "n/a",
        "second": "passed",
        "third": "regressed",
    }
    assert len(table) == 9 and {r["seed"] for r in table} == set(range(9))
    nights, _ = marks(read_png((output / "history" / "accuracy_trend.png").read_bytes()))
    assert nights == ["ok", "ok", "regressed"]
    assert (
        '<tr class="regressed" data-tone="bad"><td class="nowrap">'
        '<a href="../runs/third/summary/report.html">third</a>'
        in (output / "history" / "history.html").read_text()
    )
    heartbeat = json.loads((output / "_last_success.json").read_text())
    assert heartbeat["run_id"] == "second"  # a gated night is not a success


def test_summary_by_hand_after_the_nightly_reproduces_its_baseline_and_verdict(nights):
    output, done = nights
    manual = done["manual"]
    assert manual.returncode == 0, manual.stderr[-3000:]
    before, after = done["second_as_written"]["comparison"], summary_of(output, "second")["comparison"]
    keys = ("baseline_run_id", "verdict", "sentence", "test", "prob_superiority", "applied_rule")
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}
    assert f"gate: passed — {before['sentence']}" in manual.stdout


def test_runs_lists_the_three_nights_newest_first(nights):
    output, _ = nights
    result = helpers.run_cli("runs", "--output", str(output))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["third", "second", "first"]
    assert "regressed vs second" in lines[1] and "passed vs first" in lines[2] and "n/a" in lines[3]
    assert lines[-1].startswith("third: gate: REGRESSED — baseline second")
