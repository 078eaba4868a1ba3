"""`lenet-batch check`: every state of an output, with its exit code and line, on a local folder and on S3.

The nights are the synthetic records of tests/history_helpers.py (shaped as the pipeline writes them);
tests/test_monitor_nightly.py checks the same command on the outputs of real nightlies.
"""

import datetime as dt
import json
import time

import pytest

from lenet_batch import cli
from lenet_batch.store import lock, storage
from lenet_batch.store.layout import Layout
from tests.history_helpers import write_synthetic_runs

NEWEST = "2026-01-03"


@pytest.fixture(params=["local", "s3"])
def output(request, tmp_path) -> str:
    """An output with three nights (the newest ok) and a heartbeat of the newest written an hour ago."""
    if request.param == "s3":
        uri = request.getfixturevalue("s3_endpoint").uri("out")
    else:
        uri = str(tmp_path / "out")
    write_synthetic_runs(uri, 3, 3)
    beat(uri, NEWEST, hours_ago=1)
    return uri


def beat(output: str, run_id: str, hours_ago: float) -> None:
    """_last_success.json as the nightly writes it, `hours_ago` hours old."""
    when = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    doc = {"run_id": run_id, "finished_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "headline": "h"}
    storage.write_json_atomic(Layout(output).heartbeat(), doc)


def edit_run(output: str, run_id: str, change) -> None:
    """Rewrite a run's run.json through `change(doc)`."""
    uri = Layout(output).run(run_id).run_json
    doc = storage.read_json(uri)
    change(doc)
    storage.write_json_atomic(uri, doc)


def record_changes(output: str, run_id: str, changes: list[dict] | None) -> None:
    """Rewrite a night's summary.json as if its gate had recorded these changes since the baseline."""
    uri = Layout(output).run(run_id).summary_json
    doc = storage.read_json(uri)
    storage.write_json_atomic(uri, {**doc, "comparison": {**doc["comparison"], "changes": changes}})


def check(capsys, output: str, *flags: str) -> tuple[int, str, dict]:
    """(exit code, the line printed, the --json document) of `lenet-batch check`."""
    code = cli.main(["check", "--output", output, "-q", *flags])
    line = capsys.readouterr().out.strip()
    assert cli.main(["check", "--output", output, "-q", "--json", *flags]) == code
    return code, line, json.loads(capsys.readouterr().out)


def test_healthy(output, capsys):
    code, line, doc = check(capsys, output)
    assert code == 0 and doc["state"] == "healthy"
    assert line.startswith(f"healthy: run {NEWEST}: 3 seeds, mean test accuracy")  # the run named once
    assert "last success: 1.0 h ago" in line
    assert doc["night"]["outcome"] == "ok" and doc["night"]["regressed"] is False
    assert doc["lock"] is None and 3500 < doc["last_success_age_seconds"] < 3700


@pytest.mark.parametrize(("hours_ago", "max_age", "state"), [(30, "26h", "stale"), (30, "2d", "healthy")])
def test_stale_by_the_heartbeats_age(output, capsys, hours_ago, max_age, state):
    beat(output, NEWEST, hours_ago)
    code, line, doc = check(capsys, output, "--max-age", max_age)
    assert doc["state"] == state and code == {"stale": 7, "healthy": 0}[state]
    if state == "stale":
        assert line.startswith("stale: no night succeeded within 26 h: last success: 30.0 h ago")


def test_stale_when_no_night_ever_succeeded(output, capsys):
    storage.remove(Layout(output).heartbeat())
    code, line, _ = check(capsys, output)
    assert code == 7 and "last success: never" in line and f"newest run {NEWEST}: ok" in line


def test_seeds_failed(output, capsys):
    def one_seed_failed(doc):
        doc["stages"]["train"]["seeds"][0]["status"] = "failed"
        doc["stages"]["train"]["status"] = "failed"

    edit_run(output, NEWEST, one_seed_failed)
    code, line, doc = check(capsys, output)
    assert code == 3 and doc["state"] == "seeds_failed"
    assert "1 of 3 seeds failed in train: [6]" in line and doc["night"]["failed_seeds"] == [6]


@pytest.mark.parametrize(
    ("stage", "status", "said"),
    [
        ("train", "failed", "train failed: every seed (3) failed"),
        ("infer", "interrupted", "infer was interrupted"),
        ("summary", None, "summary did not finish (no status recorded) and no nightly holds the lock"),
    ],
)
def test_failed_names_its_stage(output, capsys, stage, status, said):
    def broken(doc):
        if stage == "train":
            for row in doc["stages"]["train"]["seeds"]:
                row["status"] = "failed"
        if status is None:
            del doc["stages"][stage]
        else:
            doc["stages"][stage]["status"] = status

    edit_run(output, NEWEST, broken)
    code, line, doc = check(capsys, output)
    assert code == 6 and doc["state"] == "failed" and doc["night"]["stage"] == stage
    assert line.startswith(f"failed: run {NEWEST} in stage {stage}: {said}")


def test_failed_when_the_summary_does_not_read(output, capsys):
    storage.write_bytes_atomic(Layout(output).run(NEWEST).summary_json, b"{not json")
    code, line, _ = check(capsys, output)
    assert code == 6 and "summary.json: not valid JSON" in line


# The newest night's recorded changes -> (night.changes, what check's line says); None: nothing recorded
LR = [
    {"key": "lr", "baseline": "0.1", "current": "0.01"},
    {"key": "seeds", "baseline": "3-5", "current": "6-8"},
]
CHANGES = {
    "not recorded": (None, None, None),
    "nothing changed": ([], "nothing recorded changed", "nothing recorded changed since 2026-01-02"),
    "lr and seeds": (
        LR,
        "lr 0.1 → 0.01, seeds 3-5 → 6-8",
        "changed since 2026-01-02: lr 0.1 → 0.01, seeds 3-5 → 6-8",
    ),
}


@pytest.mark.parametrize("case", CHANGES)
def test_regressed_says_what_changed_not_the_gates_sentence(tmp_path, capsys, case):
    out = str(tmp_path / "out")
    write_synthetic_runs(out, 3, 3, {2: "regressed"})
    beat(out, "2026-01-02", hours_ago=20)
    recorded, text, said = CHANGES[case]
    record_changes(out, NEWEST, recorded)
    code, line, doc = check(capsys, out)
    assert code == 4 and doc["state"] == "regressed"
    verdict = f"regressed: run {NEWEST}: gate: REGRESSED against 2026-01-02: mean 0.8799 → 0.8015 (-0.0784)"
    assert line.startswith(f"{verdict}, welch rule; " + (f"{said}; " if said else "") + "last success: ")
    night = doc["night"]
    assert (night["changed"], night["changes"]) == (recorded, text) and night["p_value"] < 0.01
    assert night["gate"].startswith("gate: REGRESSED — baseline 2026-01-02: mean 0.8799 → 0.8015 (-0.0784)")


def test_running_names_the_holder_and_a_stale_lock_does_not_count(output, capsys):
    token = lock.acquire(Layout(output).run(NEWEST), stale_seconds=3600)
    code, line, doc = check(capsys, output)
    assert code == 5 and doc["state"] == "running" and doc["night"]["outcome"] == "running"
    assert line.startswith(f"running: run {NEWEST} (host ") and "holds the lock for 0 min" in line
    lock.release(Layout(output).run(NEWEST), token)
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=7)).isoformat()
    storage.write_json_atomic(Layout(output).lock(), {"run_id": "dead", "acquired_at": old, "host": "h"})
    code, _, doc = check(capsys, output)
    assert code == 0 and "more than stale_lock_seconds" in doc["lock"]["stale"]


def test_a_missing_output_or_a_bad_max_age_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["check", "--output", str(tmp_path / "nowhere")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "out").mkdir()
    assert cli.main(["check", "--output", str(tmp_path / "out"), "--max-age", "soon"]) == 2
    assert "--max-age 'soon'" in capsys.readouterr().err


def test_the_newest_night_of_many_is_found_in_about_a_second(tmp_path, capsys):
    out = str(tmp_path / "out")
    write_synthetic_runs(out, 400, 2, {399: "regressed"})
    started = time.perf_counter()
    code, _, doc = check(capsys, out)
    assert code == 4 and doc["night"]["run_id"] == "2027-02-04"
    assert time.perf_counter() - started < 2.0  # two in-process checks, reading one night's records
