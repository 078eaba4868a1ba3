"""`lenet-batch accept`: a deliberate change recorded as the new baseline and reference, shown wherever the
night is, its alarm over; refused (exit 2, nothing written) for a night that did not run to its verdict.
Synthetic nights judged by the real baseline search and gate (tests/verdict_helpers.py); the CLI in-process.
"""

import datetime as dt
import getpass
import json
import socket

import pyarrow.parquet as pq
import pytest

from lenet_batch import cli
from lenet_batch.store.heartbeat import write_heartbeat
from lenet_batch.store.layout import Layout
from tests.history_helpers import run_id
from tests.verdict_helpers import recorded, snapshot, write_night

STEADY = [0.880, 0.882, 0.878]
# Tonight after three steady nights, by the verdict the gate gives it (lr 0.05: a deliberate change).
TONIGHT = {
    "passed": [0.881, 0.879, 0.880],
    "regressed": [0.800, 0.802, 0.798],
    "inconclusive": [0.885, 0.840, 0.885],  # a drop of 0.015 at a noise no 3 seeds can tell from none
}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """`lenet-batch ARGV` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def nights(tmp_path, tonight: str) -> tuple[Layout, str]:
    """Three steady nights, then a fourth at lr 0.05 that the gate judges `tonight`; its run id."""
    layout = Layout(str(tmp_path / "out"))
    for night in range(3):
        write_night(layout, night, STEADY)
    rid = write_night(layout, 3, TONIGHT[tonight], lr=0.05)
    assert recorded(layout, rid)["verdict"] == tonight
    return layout, rid


@pytest.mark.parametrize("verdict", ["passed", "regressed", "inconclusive"])
def test_an_accepted_night_is_recorded_and_shown_wherever_the_night_is(tmp_path, capsys, verdict):
    layout, rid = nights(tmp_path, verdict)
    out = layout.output
    code, said, _ = run(capsys, "accept", rid, "--reason", "faster schedule", "--output", out)
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    assert code == 0
    assert said == f"run {rid} accepted as the new baseline and reference: 'faster schedule' ({who})\n"
    acceptance = json.loads((tmp_path / "out/runs" / rid / "run.json").read_text())["acceptance"]
    assert acceptance["reason"] == "faster schedule" and acceptance["by"] == who
    at = dt.datetime.fromisoformat(acceptance["at"])
    assert abs((dt.datetime.now(dt.UTC) - at).total_seconds()) < 60
    # runs: the row says so, and the newest night's line says who accepted it, when and why
    code, table, _ = run(capsys, "runs", "--output", out)
    row = next(line for line in table.splitlines() if line.startswith(rid))
    assert row.endswith(f"{verdict} vs {run_id(2)}, accepted")
    assert table.splitlines()[-1].endswith(f"; accepted by {who} ({acceptance['at']}): 'faster schedule'")
    code, rows, _ = run(capsys, "runs", "--output", out, "--json")
    night = json.loads(rows)[0]
    assert night["accepted"] == acceptance and night["verdict"] == verdict and night["outcome"] == "ok"
    assert all(r["accepted"] is None for r in json.loads(rows)[1:])
    # the history was rebuilt by `accept`: runs.parquet and history.html say it too
    table = pq.read_table(tmp_path / "out/history/runs.parquet").to_pylist()
    assert {(r["run_id"], r["accepted_reason"]) for r in table} == {
        (run_id(k), "faster schedule" if k == 3 else None) for k in range(4)
    }
    page = (tmp_path / "out/history/history.html").read_text()
    assert "faster schedule" in page and 'class="accepted' in page


def test_the_next_night_is_judged_against_the_accepted_one_and_its_line_says_so(tmp_path, capsys):
    layout, rid = nights(tmp_path, "regressed")
    assert run(capsys, "accept", rid, "--reason", "faster schedule", "--output", layout.output)[0] == 0
    tomorrow = write_night(layout, 4, [0.801, 0.799, 0.800], lr=0.05)
    cmp = recorded(layout, tomorrow)
    assert cmp["baseline_run_id"] == rid and cmp["verdict"] == "passed"
    assert cmp["baseline_accepted"] == "lr 0.1 → 0.05, 'faster schedule'"
    assert cmp["sentence"].startswith(f"baseline {rid}, accepted: lr 0.1 → 0.05, 'faster schedule': mean ")
    code, line, _ = run(capsys, "runs", "--output", layout.output, "--last", "1")
    assert f"gate: passed — baseline {rid}, accepted: lr 0.1 → 0.05, 'faster schedule': mean" in line


@pytest.mark.parametrize("accepted", [True, False])
def test_an_accepted_change_stops_the_alarms_that_follow_it(tmp_path, capsys, accepted):
    # The same nights with and without the acceptance: without it, every night at the new level regresses
    # against the last one before the change; with it, they pass against the accepted night.
    layout, rid = nights(tmp_path, "regressed")
    out = layout.output
    write_heartbeat(layout, rid, "a success within --max-age")  # `check` judges the night, not staleness
    code, said, _ = run(capsys, "check", "--output", out)
    assert code == 4 and said.startswith("regressed: ")
    if accepted:
        assert run(capsys, "accept", rid, "--reason", "new recipe", "--output", out)[0] == 0
        code, said, _ = run(capsys, "check", "--output", out)
        assert code == 0 and said.startswith(f"healthy: run {rid}: 3 seeds, mean test accuracy 0.8000")
    verdicts = []
    for night in range(4, 8):
        tonight = write_night(layout, night, [0.800 + 0.001 * (night % 2), 0.801, 0.799], lr=0.05)
        cmp = recorded(layout, tonight)
        verdicts.append((cmp["verdict"], cmp["baseline_run_id"]))
    if accepted:
        assert verdicts == [
            ("passed", rid),
            ("passed", run_id(4)),
            ("passed", run_id(5)),
            ("passed", run_id(6)),
        ]
    else:
        assert verdicts == [("regressed", run_id(2))] * 4
    code, said, _ = run(capsys, "check", "--output", out)
    assert code == (0 if accepted else 4), said


@pytest.mark.parametrize("verdict", ["regressed", "inconclusive"])
def test_accepting_the_newest_night_makes_it_the_last_success_and_an_older_one_does_not(
    tmp_path, capsys, verdict
):
    # No heartbeat written by hand: the one `accept` writes is what turns check's alarm into healthy.
    layout, rid = nights(tmp_path, verdict)
    out = layout.output
    heartbeat = tmp_path / "out/_last_success.json"
    assert run(capsys, "check", "--output", out)[0] == {"regressed": 4, "inconclusive": 8}[verdict]
    assert run(capsys, "accept", run_id(1), "--reason", "older", "--output", out)[0] == 0
    assert not heartbeat.exists()  # an older night accepted: the newest night's alarm stands
    assert run(capsys, "check", "--output", out)[0] != 0
    assert run(capsys, "accept", rid, "--reason", "new recipe", "--output", out)[0] == 0
    beat = json.loads(heartbeat.read_text())
    record = json.loads((tmp_path / "out/runs" / rid / "run.json").read_text())
    summary_end = record["stages"]["summary"].get("finished_at") or record["updated_at"]
    assert beat["run_id"] == rid and beat["finished_at"] == summary_end  # when it finished, not now
    code, said, _ = run(capsys, "check", "--output", out, "--max-age", "3650d")
    assert code == 0 and said.startswith(f"healthy: run {rid}: 3 seeds"), said


@pytest.mark.parametrize(
    "kind, seeds, argv, said",
    [
        ("failed", 1, (), "cannot be accepted: train failed: every seed (1) failed (failed)"),
        ("failed", 3, (), "cannot be accepted: 1 of 3 seeds failed in train: [0] (seeds failed)"),
        ("interrupted", 3, (), "cannot be accepted: infer was interrupted (stopped by SIGTERM)"),
        ("damaged", 3, (), "run.json: not valid JSON"),
        ("unknown", 3, (), f"no such run: 2026-11-99 (newest: {run_id(2)})"),
        ("judged", 3, ("--reason", ""), "--reason is empty"),
        ("judged", 3, ("--reason", "  \t"), "--reason is empty"),
    ],
)
def test_accept_is_refused_for_a_night_without_a_verdict_and_writes_nothing(
    tmp_path, capsys, kind, seeds, argv, said
):
    layout = Layout(str(tmp_path / "out"))
    for night in range(3):
        write_night(layout, night, STEADY)
    rid = "2026-11-99" if kind == "unknown" else write_night(layout, 3, STEADY[:seeds], kind=kind)
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "accept", rid, "--output", layout.output, *(argv or ("--reason", "why")))
    assert code == 2 and out == ""
    assert said in err and len(err.splitlines()) == 1, err
    assert snapshot(tmp_path) == before


def test_the_same_reason_again_is_nothing_to_do_and_another_replaces_it(tmp_path, capsys):
    layout, rid = nights(tmp_path, "regressed")
    argv = ("accept", rid, "--output", layout.output, "--reason")
    assert run(capsys, *argv, "new recipe")[0] == 0
    first, before = json.loads((tmp_path / "out/runs" / rid / "run.json").read_text()), snapshot(tmp_path)
    code, said, err = run(capsys, *argv, "new recipe")
    assert code == 0 and "already accepted for that reason: nothing to do" in err
    assert snapshot(tmp_path) == before
    assert run(capsys, *argv, "new recipe, and new data")[0] == 0
    again = json.loads((tmp_path / "out/runs" / rid / "run.json").read_text())
    assert again["acceptance"]["reason"] == "new recipe, and new data"
    assert again["stages"] == first["stages"]  # the verdict stays as the gate gave it
