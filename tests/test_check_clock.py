"""`check` and a clock that is wrong: a heartbeat dated far ahead of this host's clock is damaged (named, with
what to do; never healthy, and the metrics file says no success), a time a little ahead reads as now (never a
negative age), and --max-age is said in the largest unit that reads well."""

import datetime as dt
import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lenet_batch import cli
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from tests.history_helpers import write_synthetic_runs
from tests.test_check import NEWEST, beat, check


@pytest.fixture
def output(tmp_path) -> str:
    """Three good nights."""
    out = str(tmp_path / "out")
    write_synthetic_runs(out, 3, 3)
    return out


def heartbeat_at(output: str, finished_at: str) -> str:
    """_last_success.json of the newest night, finished at this time; its path."""
    uri = Layout(output).heartbeat()
    storage.write_json_atomic(uri, {"run_id": NEWEST, "finished_at": finished_at, "headline": "h"})
    return uri


def ahead(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


FAR_AHEAD = {  # (when, as a time or how far from now as the test runs; how far ahead the line says)
    "the year 2999": ("2999-01-01T00:00:00Z", r"\d+ days"),
    "a day ahead": ({"days": 1}, r"14[34]\d min"),
    "eleven minutes ahead": ({"minutes": 11}, r"1[01] min"),
}


@pytest.mark.parametrize(("when", "lead"), FAR_AHEAD.values(), ids=FAR_AHEAD.keys())
def test_a_heartbeat_far_ahead_of_this_clock_is_damaged_never_healthy(output, tmp_path, capsys, when, lead):
    when = (
        ahead(**when) if isinstance(when, dict) else when
    )  # from now, not from when the tests were collected
    uri = heartbeat_at(output, when)
    prom = tmp_path / "m.prom"
    code, line, doc = check(capsys, output, "--metrics-file", str(prom))
    assert code == 7 and doc["state"] == "stale", line  # no success it can believe
    assert re.search(rf"{re.escape(uri)} is damaged: its finished_at {when} lies {lead} ahead", line), line
    assert "check the clocks" in line and "delete the file" in line
    assert doc["last_success"] is None and doc["last_success_age_seconds"] is None
    assert "last success: unknown: " in line and " h ago" not in line  # no age: a negative one least of all
    written = {s.name: s.value for f in text_string_to_metric_families(prom.read_text()) for s in f.samples}
    assert written["lenet_batch_last_success_timestamp_seconds"] == 0  # the success-age alert fires


def test_a_heartbeat_a_few_minutes_ahead_reads_as_now(output, capsys):
    heartbeat_at(output, ahead(minutes=5))  # clocks of two hosts a little apart: believed
    code, line, doc = check(capsys, output)
    assert code == 0 and "last success: 0.0 h ago" in line, line
    assert doc["last_success_age_seconds"] == 0.0


def test_a_lock_a_few_minutes_ahead_shows_no_negative_age(output, capsys):
    storage.write_json_atomic(
        Layout(output).lock(),
        {"run_id": "other", "acquired_at": ahead(minutes=5), "host": "elsewhere", "pid": 1, "token": "t"},
    )
    code, line, doc = check(capsys, output)
    assert code == 5 and "holds the lock for 0 min" in line, line
    assert doc["lock"]["age_seconds"] == 0.0


@pytest.mark.parametrize(
    ("max_age", "said"), [("1s", "1 s"), ("90m", "1.5 h"), ("26h", "26 h"), ("2d", "2 d"), ("45m", "45 min")]
)
def test_the_max_age_is_said_in_the_unit_that_reads_well(output, capsys, max_age, said):
    beat(output, NEWEST, hours_ago=72)
    code, line, _ = check(capsys, output, "--max-age", max_age)
    assert code == 7 and line.startswith(f"stale: no night succeeded within {said}: last success: 72.0 h ago")


def test_the_json_carries_the_limit_in_seconds(output, capsys):
    beat(output, NEWEST, hours_ago=1)
    assert cli.main(["check", "--output", output, "--max-age", "1s", "--json"]) == 7
    assert json.loads(capsys.readouterr().out)["max_age_seconds"] == 1
