"""One damaged record never breaks a listing (issue 23, class 2): `runs`, `runs --json`, `history` and `check`
list every damaged run once, as damaged with a one-line reason, and the others as usual; JSON is strict;
empty folders are not nights; odd folder names are listed; night order ignores times that are not times.

Synthetic records only (tests/history_helpers.py): no Ray, no MXNet, no model.
"""

import contextlib
import io
import json
import math
import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lenet_batch.cli import output as cli_output
from lenet_batch.history import runs_table
from lenet_batch.history import stage as history_stage
from lenet_batch.history.rows import night_rows
from lenet_batch.monitor import health
from lenet_batch.state import listing
from lenet_batch.state.outcome import OUTCOMES
from lenet_batch.store import record_reads, storage
from lenet_batch.store.layout import Layout
from lenet_batch.store.record_reads import printable
from tests import helpers
from tests.damaged_helpers import (
    DAMAGED,
    HEALTHY,
    NIGHTS,
    assert_listed_once,
    history_run_states,
    list_everything,
    rename_run,
    rewrite,
    strict_loads,
    three_nights,
)
from tests.damaged_members import (
    NOT_A_FILE,
    ODD_NAMES,
    RUN_JSON,
    S3_MEMBERS,
    SUMMARY_JSON,
    as_text,
    reshaped,
    s3_rewrite,
)
from tests.history_helpers import run_id, synthetic_files, write_synthetic_runs

# Members whose test also builds the history (it draws its figures: ~0.3 s each); the others list only.
DRAWN = {"nested-100k-deep", "stages-a-string", "seconds-10**400", "invalid-utf-8", "per-seed-none"}
DRAWN |= {"mean-10**400", "mean-NaN", "another-runs-summary"}


@pytest.fixture
def out(tmp_path) -> Path:
    return three_nights(tmp_path / "out")


@pytest.mark.parametrize("member", list(RUN_JSON))
def test_a_damaged_run_json_is_listed_once_as_damaged(out, capsys, member):
    change, fragment = RUN_JSON[member]
    rewrite(out / "runs" / DAMAGED / "run.json", change)
    found = list_everything(capsys, str(out), history=member in DRAWN)
    assert_listed_once(found, DAMAGED, fragment)
    assert found.stderr.count(f"run {DAMAGED} is damaged: ") == 1
    if member in DRAWN:  # the history is built from the healthy nights, the damaged one marked
        assert history_run_states(out) == {HEALTHY[0]: "ok", DAMAGED: "damaged", HEALTHY[1]: "ok"}
        assert "DAMAGED: " in (out / "history" / "history.html").read_text()


@pytest.mark.parametrize("member", list(SUMMARY_JSON))
def test_a_damaged_summary_json_is_listed_once_as_damaged(out, capsys, member):
    change, fragment = SUMMARY_JSON[member]
    rewrite(out / "runs" / DAMAGED / "summary" / "summary.json", change)
    found = list_everything(capsys, str(out), history=member in DRAWN)
    row = assert_listed_once(found, DAMAGED, fragment)
    assert helpers.stage_status(row, "train") == "complete" and row["mean_accuracy"] is None  # run.json shows
    if member in DRAWN:
        assert history_run_states(out) == {HEALTHY[0]: "ok", DAMAGED: "damaged", HEALTHY[1]: "ok"}


@pytest.mark.parametrize("member", list(NOT_A_FILE))
def test_a_run_json_that_is_not_a_readable_file_is_listed_once_as_damaged(out, capsys, member):
    make, fragment = NOT_A_FILE[member]
    make(out / "runs" / DAMAGED / "run.json")
    started = time.monotonic()
    assert_listed_once(list_everything(capsys, str(out)), DAMAGED, fragment)
    assert time.monotonic() - started < 60  # /dev/zero and the FIFO are never read to their end


def test_a_summary_json_that_is_a_folder_is_listed_once_as_damaged(out, capsys):
    summary = out / "runs" / DAMAGED / "summary" / "summary.json"
    summary.unlink()
    summary.mkdir()
    assert_listed_once(list_everything(capsys, str(out)), DAMAGED, "summary.json: is a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
@pytest.mark.parametrize("target", ["run.json", "summary/summary.json", "."])
def test_an_unreadable_record_is_listed_once_as_damaged(out, capsys, target):
    path = out / "runs" / DAMAGED / target
    path.chmod(0)
    try:
        assert_listed_once(list_everything(capsys, str(out)), DAMAGED, "permission denied")
    finally:
        path.chmod(0o755)


@pytest.mark.parametrize("target", ["run.json", "summary.json"])
def test_permission_denied_is_listed_once_as_damaged_even_as_root(out, capsys, monkeypatch, target):
    real_open = os.open

    def refusing(path, flags, *args, **kwargs):
        if str(path).endswith(f"{DAMAGED}/{target}") or f"{DAMAGED}/summary/{target}" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(record_reads.os, "open", refusing)
    assert_listed_once(list_everything(capsys, str(out)), DAMAGED, f"{target}: permission denied")


@pytest.mark.parametrize("name", ODD_NAMES, ids=lambda n: printable(n)[:20])
def test_a_folder_name_that_is_not_a_run_id_is_listed_once_as_damaged(out, capsys, name):
    rename_run(out, DAMAGED, name)
    shown = printable(name)
    assert shown.isprintable() and "\n" not in shown
    found = list_everything(capsys, str(out))
    row = assert_listed_once(found, shown, "the folder name is not a run id")
    assert helpers.stage_status(row, "train") == "complete" and row["mean_accuracy"] is not None
    if name == ODD_NAMES[-1]:  # a real process: undecodable bytes never reach stdout raw
        table = helpers.run_cli("runs", "--output", str(out))
        assert table.returncode == 0 and f"\n{shown} " in table.stdout, table.stderr[-2000:]
        listed = helpers.run_cli("runs", "--output", str(out), "--json")
        assert listed.returncode == 0 and shown in [r["run_id"] for r in strict_loads(listed.stdout)]


def test_a_name_no_run_can_have_is_not_a_baseline(out):

    rename_run(out, HEALTHY[0], "r 2 ünï ☃")
    base, why = helpers.previous_run(Layout(str(out)).run(DAMAGED))
    assert base is None and "1 damaged (r 2 ünï ☃)" in why


# --- night order: a start time that is not a time is unknown ------------------------------------------------

NOT_TIMES = ["yesterday", "", "2026-13-01T00:00:00Z", "02:00", "9" * 30]


@pytest.mark.parametrize("when", NOT_TIMES)
def test_a_start_time_that_is_not_a_time_sorts_as_unknown(out, capsys, when):
    """Ad-hoc run ids sort by start time; one that cannot be read sorts first (oldest), in every listing."""
    rename_run(out, "2026-01-01", "adhoc-a", created_at="2026-01-05T02:00:00Z")
    rename_run(out, "2026-01-02", "adhoc-b", created_at=when)
    rename_run(out, "2026-01-03", "adhoc-c", created_at="2026-01-04T02:00:00Z")
    order = ["adhoc-a", "adhoc-c", "adhoc-b"]
    assert [r.run_id for r in history_stage.list_runs(Layout(str(out)))] == order
    assert health.assess(Layout(str(out)), 3600, 3600).night.run_id == "adhoc-a"
    found = list_everything(capsys, str(out))
    assert [r["run_id"] for r in found.rows] == order and found.check["night"]["run_id"] == "adhoc-a"


@pytest.mark.parametrize(
    ("adhoc_started", "newest"),
    [
        ("2026-01-02T12:00:00Z", "2026-01-03"),  # between two nights
        ("2026-01-05T00:00:00Z", "adhoc"),  # after the last night
        ("2026-01-03T04:00:00+05:00", "2026-01-03"),  # 2026-01-02T23:00Z: time zones are times
        ("yesterday", "2026-01-03"),  # unknown: the oldest
    ],
)
def test_check_and_runs_agree_on_the_newest_night(out, capsys, adhoc_started, newest):
    rename_run(out, "2026-01-02", "adhoc", created_at=adhoc_started)
    three_nights(out)  # the three nights again: an ad-hoc run joins them
    found = list_everything(capsys, str(out))
    assert found.rows[0]["run_id"] == newest and found.check["night"]["run_id"] == newest


def test_the_newest_night_of_dates_is_the_latest_date_whatever_its_start_time(out, capsys):
    rewrite(out / "runs" / "2026-01-03" / "run.json", lambda d: d.update(created_at="yesterday"))
    rewrite(out / "runs" / "2026-01-01" / "run.json", lambda d: d.update(created_at="2027-01-01T00:00:00Z"))
    found = list_everything(capsys, str(out))
    assert [r["run_id"] for r in found.rows] == ["2026-01-03", "2026-01-02", "2026-01-01"]
    assert found.check["night"]["run_id"] == "2026-01-03"


# --- empty folders are not nights ---------------------------------------------------------------------------

EMPTY_FOLDERS = 5000


def test_empty_folders_are_not_nights_and_cost_little(out, capsys):
    for k in range(EMPTY_FOLDERS):
        (out / "runs" / f"2027-{k // 28 % 12 + 1:02d}-{k % 28 + 1:02d}x{k}").mkdir()
    (out / "runs" / "2099-12-31").mkdir()  # the newest date, empty: not the newest night
    started = time.monotonic()
    rows = history_stage.list_runs(Layout(str(out)))
    seconds = time.monotonic() - started
    print(f"runs over {EMPTY_FOLDERS + 1} empty folders and 3 nights: {seconds:.2f} s")
    assert [r.run_id for r in rows] == ["2026-01-03", "2026-01-02", "2026-01-01"]
    assert seconds < 10  # 0.15 s measured in process on an AMD EPYC (2 cores); room for a busy host
    found = list_everything(capsys, str(out))
    assert len(found.rows) == 3 and {r["outcome"] for r in found.rows} == {"ok"}
    assert found.stderr.count("empty folder(s)") == 1 and f"{EMPTY_FOLDERS + 1} empty" in found.stderr
    assert found.stderr.count("\n") == 1 and found.check["night"]["run_id"] == "2026-01-03"


@pytest.mark.parametrize("inside", ["logs/nightly.log", "summary/summary.json", "seeds/seed=0/metrics.json"])
def test_a_folder_with_files_but_no_run_json_is_damaged_not_empty(out, capsys, inside):
    (out / "runs" / DAMAGED / "run.json").unlink()
    if not (out / "runs" / DAMAGED / inside).exists():
        (out / "runs" / DAMAGED / inside).parent.mkdir(parents=True, exist_ok=True)
        (out / "runs" / DAMAGED / inside).write_text("{}")
    assert_listed_once(list_everything(capsys, str(out)), DAMAGED, "run.json: not found")


# --- JSON output is strict ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_json_output_is_strict_whatever_a_value_holds(capsys, value):
    cli_output.print_json({"a": value, "b": [value, {"c": (value, 1.5)}], "d": "NaN"})
    cli_output.print_json_lines([{"a": value}])
    text = capsys.readouterr().out
    first, second = text[: text.rindex("{")], text[text.rindex("{") :]
    assert strict_loads(first) == {"a": None, "b": [None, {"c": [None, 1.5]}], "d": "NaN"}
    assert strict_loads(second) == {"a": None}


# --- the same on S3 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("member", list(S3_MEMBERS))
def test_a_damaged_record_on_s3_is_listed_once_as_damaged(s3_endpoint, capsys, member):
    output = s3_endpoint.uri("out")
    three_nights(output)
    name, change, fragment = S3_MEMBERS[member]
    s3_rewrite(storage.join(output, "runs", DAMAGED, name), change)
    fs, root = storage.get_fs(output)
    fs.pipe({f"{root}/runs/2099-01-0{k}/": b"" for k in range(1, 4)})  # empty "folders": marker objects
    assert_listed_once(list_everything(capsys, output, history=member in DRAWN), DAMAGED, fragment)
    assert fs.exists(f"{root}/history/runs.parquet") == (member in DRAWN)


def test_a_prefix_without_run_json_on_s3_is_damaged_and_an_empty_one_is_no_night(s3_endpoint, capsys):
    output = s3_endpoint.uri("out")
    three_nights(output)
    fs, root = storage.get_fs(output)
    fs.rm(f"{root}/runs/{DAMAGED}/run.json")
    fs.pipe({f"{root}/runs/2099-12-31/": b"", f"{root}/runs/2099-12-30/": b""})
    found = list_everything(capsys, output)
    assert_listed_once(found, DAMAGED, "run.json: not found")
    assert "2 empty folder(s)" in found.stderr and found.check["night"]["run_id"] == "2026-01-03"
    fs.pipe({f"{root}/runs/an-object": b"x"})  # an object where a run's prefix should be: not hidden
    rows = {row.run_id: row for row in history_stage.list_runs(Layout(output))}
    assert rows["an-object"].outcome == "damaged" and "not found" in rows["an-object"].reason


# --- several damaged runs at once, through the real command ----------------------------------------------


def test_several_damaged_runs_in_one_output_through_the_real_command(tmp_path):
    output = tmp_path / "out"
    write_synthetic_runs(str(output), 8, 2)
    runs = output / "runs"
    rewrite(runs / run_id(0) / "run.json", RUN_JSON["nested-100k-deep"][0])
    NOT_A_FILE["a-folder"][0](runs / run_id(2) / "run.json")
    NOT_A_FILE["a-symlink-loop"][0](runs / run_id(3) / "run.json")
    rewrite(runs / run_id(4) / "summary" / "summary.json", SUMMARY_JSON["per-seed-none"][0])
    rewrite(runs / run_id(5) / "summary" / "summary.json", SUMMARY_JSON["mean-10**400"][0])
    rewrite(runs / run_id(6) / "run.json", RUN_JSON["seconds-NaN"][0])
    (runs / "r 2 ünï ☃").mkdir()
    (runs / "r 2 ünï ☃" / "run.json").write_text('{"run_id": "r 2 ünï ☃", "created_at": "yesterday"}')
    (runs / "empty").mkdir()
    listed = helpers.run_cli("runs", "--output", str(output), "--json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    states = {r["run_id"]: r["outcome"] for r in strict_loads(listed.stdout)}
    damaged = {run_id(k) for k in (0, 2, 3, 4, 5, 6)} | {"r 2 ünï ☃"}
    assert states == {**{run_id(k): "ok" for k in (1, 7)}, **dict.fromkeys(damaged, "damaged")}
    assert listed.stderr.count(" is damaged: ") == len(damaged) and "Traceback" not in listed.stderr
    table = helpers.run_cli("runs", "--output", str(output))
    assert table.returncode == 0 and f"{len(damaged)} damaged run(s)" in table.stdout
    assert helpers.run_cli("history", "--output", str(output)).returncode == 0
    assert helpers.run_cli("check", "--output", str(output)).returncode not in (1, 2)
    assert sorted(set(history_run_states(output).values())) == ["damaged", "ok"]


# --- property: any shape of run.json and summary.json -------------------------------------------------------

FILES = synthetic_files(NIGHTS, 3)
RUN_DOC = json.loads(FILES[f"runs/{DAMAGED}/run.json"])
SUMMARY_DOC = json.loads(FILES[f"runs/{DAMAGED}/summary/summary.json"])


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    run_doc=reshaped(RUN_DOC),
    summary_doc=reshaped(SUMMARY_DOC),
    which=st.sampled_from(["run", "sum", "both"]),
)
def test_any_shape_of_the_records_lists_each_run_once_as_strict_json(run_doc, summary_doc, which):
    with tempfile.TemporaryDirectory() as folder:
        for rel, data in FILES.items():
            (Path(folder) / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(folder) / rel).write_bytes(data)
        runs = Path(folder) / "runs" / DAMAGED
        if which in ("run", "both"):
            (runs / "run.json").write_text(as_text(run_doc))
        if which in ("sum", "both"):
            (runs / "summary" / "summary.json").write_text(as_text(summary_doc))
        layout = Layout(folder)
        nights = listing.read_nights(layout)
        rows = night_rows(nights)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            cli_output.print_json([row.to_json() for row in rows])  # what `runs --json` prints
            cli_output.print_runs(rows)  # and `runs`
        listed = strict_loads(printed.getvalue()[: printed.getvalue().index("\n]\n") + 3])
        assert sorted(r["run_id"] for r in listed) == sorted([*HEALTHY, DAMAGED])
        assert {r["run_id"]: r["outcome"] for r in listed if r["run_id"] in HEALTHY} == dict.fromkeys(
            HEALTHY, "ok"
        )
        assert all(r["outcome"] in OUTCOMES and (r["outcome"] != "damaged" or r["reason"]) for r in listed)
        assert runs_table.runs_table(nights, rows).num_rows >= NIGHTS  # runs.parquet's table builds
        said = {r["run_id"]: r["outcome"] for r in listed}
        assert health.read_night(layout, DAMAGED).outcome == said[DAMAGED]  # what `check` reads


@pytest.mark.parametrize(
    ("target", "change", "fragment"),
    [
        ("run.json", RUN_JSON["nested-100k-deep"][0], "nested too deeply"),
        ("run.json", RUN_JSON["stages-a-string"][0], "expected an object"),
        ("summary/summary.json", SUMMARY_JSON["mean-10**400"][0], "a finite number"),
        ("summary/summary.json", SUMMARY_JSON["per-seed-none"][0], "expected a list"),
    ],
)
def test_check_says_why_when_the_newest_night_is_damaged(out, capsys, target, change, fragment):
    rewrite(out / "runs" / "2026-01-03" / target, change)
    found = list_everything(capsys, str(out))
    assert found.check_code == 6 and found.check["state"] == "failed"
    assert found.check["night"]["run_id"] == "2026-01-03" and fragment in found.check["message"]
