"""What-ifs never change a night: `compare A B` prints a verdict and writes nothing; `summary` and the
nightly refuse to judge a night again by another baseline or rule (exit 2, nothing written) unless --force,
which replaces the verdict (and rebuilds the history); an unknown run is "no such run" before any data is
loaded; `summary --dry-run` prints its plan. The CLI in-process; synthetic nights judged by the real gate
(tests/verdict_helpers.py), and nights summarised from real prediction partitions where the summary is made
again.
"""

import json
import shutil
from dataclasses import replace

import pyarrow.parquet as pq
import pytest

from lenet_batch.config import GateRule
from lenet_batch.data import fashion_mnist
from lenet_batch.errors import ConfigError, RegressionDetected
from lenet_batch.pipeline.hand_summary import summarise
from lenet_batch.pipeline.owner import RunOwner
from lenet_batch.pipeline.plan import Request, plan
from lenet_batch.store import storage
from lenet_batch.store.heartbeat import write_heartbeat
from lenet_batch.store.layout import Layout
from tests.history_helpers import run_id, scored_run
from tests.test_accept import STEADY, run
from tests.verdict_helpers import recorded, snapshot, write_night

FIRST, SECOND, THIRD = run_id(0), run_id(1), run_id(2)


@pytest.fixture
def judged(tmp_path, no_data) -> Layout:
    """Two steady nights, then a third (lr 0.05) that regressed against the second."""
    layout = Layout(str(tmp_path / "out"))
    write_night(layout, 0, STEADY)
    write_night(layout, 1, STEADY)
    write_night(layout, 2, [0.800, 0.802, 0.798], lr=0.05)
    assert recorded(layout, THIRD)["verdict"] == "regressed"
    return layout


@pytest.fixture
def no_data(monkeypatch):
    """Loading Fashion-MNIST is a bug here (exit 1): nothing in these tests needs the images."""

    def load(*args, **kwargs):
        raise AssertionError("the dataset was loaded")

    monkeypatch.setattr(fashion_mnist, "load", load)


@pytest.mark.parametrize(
    "argv, said",
    [
        (
            (SECOND, THIRD),
            f"{THIRD} against {SECOND}: gate: REGRESSED — baseline {SECOND}: mean 0.8800 → 0.8000",
        ),
        (
            (FIRST, THIRD),
            f"{THIRD} against {FIRST}: gate: REGRESSED — baseline {FIRST}: mean 0.8800 → 0.8000",
        ),
        ((THIRD, SECOND), f"{SECOND} against {THIRD}: gate: passed — baseline {THIRD}: mean 0.8000 → 0.8800"),
        (
            (SECOND, THIRD, "--gate", "threshold", "--max-drop", "0.1"),
            f"gate: passed — baseline {SECOND}: mean 0.8800 → 0.8000 (-0.0800), threshold rule (max drop "
            "0.1): drop 0.0800 <= max drop 0.1",
        ),
        (
            (SECOND, THIRD, "--min-effect", "0.1", "--max-drop", "0.1"),
            "too small to count; passed: the drop's",
        ),
        ((FIRST, SECOND, "--min-accuracy", "0.9"), "mean 0.8800 is below the floor 0.9 (--min-accuracy)"),
    ],
)
def test_compare_prints_the_verdict_of_any_two_runs_and_writes_nothing(judged, tmp_path, capsys, argv, said):
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "compare", *argv, "--output", judged.output)
    assert code == 0 and said in out and len(out.splitlines()) == 1, out + err
    code, doc, _ = run(capsys, "compare", *argv, "--output", judged.output, "--json")
    cmp = json.loads(doc)
    assert code == 0 and cmp["baseline_run_id"] == argv[0] and cmp["verdict"] in ("passed", "regressed")
    assert cmp["detectable_drop"] > 0 and f"smallest detectable drop {cmp['detectable_drop']:.4f}" in out
    assert snapshot(tmp_path) == before  # the recorded verdicts stand
    assert recorded(judged, THIRD)["baseline_run_id"] == SECOND


def test_compare_says_an_accepted_baseline_was_accepted(judged, capsys):
    assert run(capsys, "accept", THIRD, "--reason", "new recipe", "--output", judged.output)[0] == 0
    code, out, _ = run(capsys, "compare", THIRD, FIRST, "--output", judged.output)
    assert code == 0 and f"baseline {THIRD}, accepted: lr 0.1 → 0.05, 'new recipe': mean 0.8000" in out


@pytest.mark.parametrize(
    "argv, said",
    [
        ((SECOND, "2026-11-99"), f"no such run: 2026-11-99 (newest: {THIRD})"),
        (("2026-11-99", SECOND), f"no such run: 2026-11-99 (newest: {THIRD})"),
        ((SECOND, SECOND), f"compare {SECOND} {SECOND}: give two different runs"),
        ((SECOND, "failed"), "run failed has no summary"),
        ((SECOND, "broken"), f"summarises run '{SECOND}', not the folder's 'broken'"),
        ((SECOND, "../out/runs/x"), "compare RUN '../out/runs/x': use letters, digits"),
        ((SECOND, THIRD, "--alpha", "2"), "--alpha"),
    ],
)
def test_compare_of_a_run_that_is_not_a_judged_night_is_refused(judged, tmp_path, capsys, argv, said):
    storage.write_json_atomic(judged.run("failed").run_json, {"run_id": "failed", "stages": {}})
    storage.write_bytes_atomic(
        judged.run("broken").summary_json, open(judged.run(SECOND).summary_json, "rb").read()
    )
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "compare", *argv, "--output", judged.output)
    assert code == 2 and out == "" and said in err and len(err.splitlines()) == 1, err
    assert snapshot(tmp_path) == before


# The plan refuses (pipeline/plan.py), so both commands do, the nightly before its lock, its data and Ray.
JUDGING_AGAIN = {"summary": ("--run", THIRD), "nightly": ("--run-id", THIRD, "--lr", "0.05")}


@pytest.mark.parametrize("command", JUDGING_AGAIN)
@pytest.mark.parametrize(
    "argv",
    [
        ("--baseline", "none"),
        ("--baseline", FIRST),
        ("--gate", "threshold"),
        ("--alpha", "0.05"),
        ("--max-drop", "0.05"),
        ("--confidence", "0.8"),
        ("--min-accuracy", "0.5"),
        ("--baseline", "none", "--dry-run"),
    ],
)
def test_summary_and_nightly_refuse_to_judge_a_judged_night_again_and_write_nothing(
    judged, tmp_path, capsys, command, argv
):
    before = snapshot(tmp_path)
    code, out, err = run(capsys, command, *JUDGING_AGAIN[command], "--output", judged.output, *argv)
    assert code == 2 and out == "", err
    error = err.splitlines()[-1]
    judged_line = f"run {THIRD} was judged regressed against {SECOND}"
    assert error.startswith(f"lenet-batch {command}: error: {judged_line}")
    assert "`lenet-batch compare`" in error and "--force" in error
    assert snapshot(tmp_path) == before


def test_the_recorded_baseline_and_rule_plan_the_night_again_and_force_allows_another(judged):
    state = RunOwner.read(judged.run(THIRD)).state
    asked = Request(("summary",), None, summary_digest="d", judged_by=(SECOND, GateRule()))
    plan(state, asked)  # as recorded: planned, no refusal
    for other in [(FIRST, GateRule()), (SECOND, GateRule(max_drop=0.05)), (None, GateRule())]:
        with pytest.raises(ConfigError, match=f"run {THIRD} was judged regressed against {SECOND}"):
            plan(state, replace(asked, judged_by=other))
        plan(state, replace(asked, judged_by=other, force=True))  # --force replaces the verdict
    plan(state, replace(asked, judged_by=None))  # no baseline or rule asked (a plan that is no summary's)


@pytest.mark.parametrize("command", ["summary", "summary --dry-run", "infer", "accept", "compare"])
def test_an_unknown_run_is_no_such_run_before_any_data_is_loaded(judged, tmp_path, capsys, command):
    words = command.split()
    extra = {"accept": ("--reason", "why"), "compare": (SECOND,)}.get(words[0], ())
    which = ("2026-11-99",) if words[0] in ("accept", "compare") else ("--run", "2026-11-99")
    data = ("--data", str(tmp_path / "no-such-folder")) if words[0] in ("summary", "infer") else ()
    before = snapshot(tmp_path)
    code, out, err = run(capsys, *words, *extra, *which, "--output", judged.output, *data)
    assert code == 2 and out == "", err
    assert err.splitlines() == [
        f"lenet-batch {words[0]}: error: no such run: 2026-11-99 (newest: {THIRD}); check --run and --output"
    ]
    assert snapshot(tmp_path) == before


def test_an_unknown_run_in_an_empty_output_says_there_are_no_runs(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    code, _, err = run(capsys, "summary", "--run", "2026-11-99", "--output", str(tmp_path / "out"))
    assert code == 2 and "no such run: 2026-11-99 (no runs under " in err and len(err.splitlines()) == 1


# --- nights summarised from prediction partitions: --force makes the summary again ------------------------


@pytest.fixture(scope="module")
def summarised(tmp_path_factory):
    """Two nights summarised from their predictions, the second regressed; a heartbeat from now."""
    layout = Layout(str(tmp_path_factory.mktemp("summarised") / "out"))
    scored_run(layout, FIRST, 0, [0.90, 0.91, 0.905])
    summarise(layout.run(FIRST), history_lock=60)
    scored_run(layout, SECOND, 1, [0.80, 0.81, 0.805])
    with pytest.raises(RegressionDetected):
        summarise(layout.run(SECOND), history_lock=60)
    write_heartbeat(layout, FIRST, "a success within --max-age")
    return layout


@pytest.fixture
def copy(summarised, tmp_path) -> Layout:
    shutil.copytree(summarised.output, tmp_path / "out")
    return Layout(str(tmp_path / "out"))


@pytest.mark.parametrize(
    "argv, verdict, code",
    [
        (("--baseline", "none"), "n/a", 0),
        (("--gate", "threshold", "--max-drop", "0.5"), "passed", 0),
        (("--baseline", "none", "--min-accuracy", "0.9"), "regressed", 4),
    ],
)
def test_force_replaces_the_verdict_and_rebuilds_the_history(copy, capsys, argv, verdict, code):
    out = copy.output
    assert run(capsys, "check", "--output", out)[0] == 4
    said = run(capsys, "summary", "--run", SECOND, "--output", out, *argv, "--force")
    assert said[0] == code, said
    assert recorded(copy, SECOND)["verdict"] == verdict
    rows = json.loads(run(capsys, "runs", "--output", out, "--json")[1])
    assert rows[0]["run_id"] == SECOND and rows[0]["verdict"] == verdict
    table = pq.read_table(f"{out}/history/runs.parquet").to_pylist()
    assert {r["gate_verdict"] for r in table if r["run_id"] == SECOND} == {verdict}
    page = storage.read_bytes(storage.join(copy.history_dir(), "history.html")).decode()
    newest_row = page.split("<tbody>")[1].split("</tr>")[0]
    assert SECOND in newest_row and f">{verdict}</span>" in newest_row
    assert run(capsys, "check", "--output", out)[0] == code


def test_summary_again_with_the_same_rule_reuses_the_verdict_and_writes_nothing(copy, tmp_path, capsys):
    before = snapshot(tmp_path)
    code, out, _ = run(capsys, "summary", "--run", SECOND, "--output", copy.output)
    assert code == 4 and "gate: REGRESSED — baseline 2026-01-01" in out
    assert snapshot(tmp_path) == before


def test_summary_dry_run_prints_its_plan_and_writes_nothing(copy, tmp_path, capsys):
    scored_run(copy, THIRD, 2, [0.90, 0.905, 0.91])
    before = snapshot(tmp_path)
    code, out, _ = run(capsys, "summary", "--run", THIRD, "--output", copy.output, "--dry-run")
    assert code == 0 and out.splitlines()[0].split() == ["stage", "seed", "action", "from_epoch", "reason"]
    assert out.splitlines()[1].split()[:3] == ["summary", "-", "summarise"]
    code, out, _ = run(capsys, "summary", "--run", SECOND, "--output", copy.output, "--dry-run")
    assert code == 0 and out.splitlines()[-1] == f"nothing to do for run {SECOND}: every step is a skip"
    code, out, _ = run(capsys, "summary", "--run", SECOND, "--output", copy.output, "--dry-run", "--json")
    assert code == 0 and [s["action"] for s in json.loads(out)] == ["skip"]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("fail_on, code", [(None, 8), ("inconclusive", 8), ("regressed", 0)])
def test_an_inconclusive_night_exits_8_unless_fail_on_regressed_and_stays_inconclusive(
    copy, capsys, fail_on, code
):
    scored_run(copy, THIRD, 2, [0.91, 0.85, 0.905])  # a drop of 0.018 in noise no 3 seeds can tell
    argv = ("--fail-on", fail_on) if fail_on else ()
    said = run(capsys, "summary", "--run", THIRD, "--output", copy.output, *argv)
    assert said[0] == code and "gate: INCONCLUSIVE — baseline 2026-01-01" in said[1], said
    assert recorded(copy, THIRD)["verdict"] == "inconclusive"  # the regressed night is passed over
    found, state, _ = run(capsys, "check", "--output", copy.output)
    assert (found, state.split(":")[0]) == (8, "inconclusive")
