"""One word for how a night ended (issue 27): `check`, `runs --json` and `history --json` name the same
outcome for the newest night, whatever its records hold, and `check` exits 6 for a damaged one.

A property test over record shapes (hypothesis) plus the named members: a mean of 2.0, another run's
summary.json, a verdict outside the vocabulary, a summary.json or run.json that is missing or a folder.
"""

import contextlib
import io
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lenet_batch import cli
from lenet_batch.state.outcome import OUTCOMES
from tests.damaged_members import as_text, reshaped
from tests.history_helpers import run_id, synthetic_files

NIGHTS = 3
NEWEST = run_id(NIGHTS - 1)
FILES = synthetic_files(NIGHTS, 3)
RUN_DOC = json.loads(FILES[f"runs/{NEWEST}/run.json"])
SUMMARY_DOC = json.loads(FILES[f"runs/{NEWEST}/summary/summary.json"])


def told(output: str, command: str) -> tuple[int, object]:
    """`lenet-batch COMMAND --json -q` in this process: its exit code and its document."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main([command, "--output", output, "--json", "-q"])
    return code, json.loads(out.getvalue())


def outcomes(output: str) -> tuple[int, str, str, str]:
    """(check's exit code, and the newest night's outcome as check, runs --json and history --json say it)."""
    check_code, health = told(output, "check")
    runs_code, rows = told(output, "runs")
    history_code, history = told(output, "history")
    assert runs_code == 0 and history_code == 0, (rows, history)
    newest = next(r for r in rows if r["run_id"] == NEWEST)
    assert health["night"]["run_id"] == history["latest"]["run_id"] == NEWEST
    return check_code, health["night"]["outcome"], newest["outcome"], history["latest"]["outcome"]


def nights_with(change: Callable[[Path], None]) -> str:
    """A temporary output of the synthetic nights, the newest changed by `change(its folder)`."""
    folder = tempfile.mkdtemp(prefix="one-outcome-")
    for rel, data in FILES.items():
        (Path(folder) / rel).parent.mkdir(parents=True, exist_ok=True)
        (Path(folder) / rel).write_bytes(data)
    change(Path(folder) / "runs" / NEWEST)
    return folder


def assert_one_outcome(output: str) -> str:
    check_code, by_check, by_runs, by_history = outcomes(output)
    assert by_check == by_runs == by_history and by_check in OUTCOMES, (by_check, by_runs, by_history)
    if by_check == "damaged":
        assert check_code == 6
    return by_check


def summary_with(**changes) -> Callable[[Path], None]:
    def change(run: Path) -> None:
        doc = json.loads((run / "summary" / "summary.json").read_text())
        for dotted, value in changes.items():
            node, *path, last = [doc, *dotted.split("__")]
            for key in path:
                node = node[key]
            node[last] = value
        (run / "summary" / "summary.json").write_text(json.dumps(doc))

    return change


MEMBERS = {
    "untouched": (lambda run: None, "ok"),
    "mean-2.0": (summary_with(across_seeds__mean=2.0), "damaged"),
    "another-runs-summary": (
        lambda run: shutil.copy(run.parent / run_id(0) / "summary" / "summary.json", run / "summary"),
        "damaged",
    ),
    "verdict-a-script": (summary_with(comparison__verdict="<script>alert(1)</script>"), "damaged"),
    "summary-missing": (lambda run: (run / "summary" / "summary.json").unlink(), "failed"),
    "summary-a-folder": (
        lambda run: ((run / "summary" / "summary.json").unlink(), (run / "summary" / "summary.json").mkdir()),
        "damaged",
    ),
    "run-json-missing": (lambda run: (run / "run.json").unlink(), "damaged"),
}


@pytest.mark.parametrize("name", MEMBERS)
def test_check_runs_and_history_name_the_same_outcome(name):
    change, expected = MEMBERS[name]
    output = nights_with(change)
    try:
        assert assert_one_outcome(output) == expected
    finally:
        shutil.rmtree(output)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    run_doc=reshaped(RUN_DOC),
    summary_doc=reshaped(SUMMARY_DOC),
    which=st.sampled_from(["run", "summary", "both"]),
)
def test_any_shape_of_the_newest_nights_records_reads_the_same_everywhere(run_doc, summary_doc, which):
    def change(run: Path) -> None:
        if which in ("run", "both"):
            (run / "run.json").write_text(as_text(run_doc))
        if which in ("summary", "both"):
            (run / "summary" / "summary.json").write_text(as_text(summary_doc))

    output = nights_with(change)
    try:
        assert_one_outcome(output)
    finally:
        shutil.rmtree(output)
