"""Log lines in one format (ISO-8601 UTC with a Z), durable copies of the driver's log, cron-log hygiene."""

import logging
import time

import pytest

from lenet_batch import cli
from lenet_batch.store import lock, run_log
from lenet_batch.store.layout import Layout
from tests.helpers import ray_job_module


@pytest.fixture
def tz_new_york(monkeypatch):
    """The process's local time zone is not UTC, as on many hosts that run cron."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def test_log_lines_are_stamped_in_utc_whatever_the_local_zone(tz_new_york):
    record = logging.LogRecord("lenet_batch", logging.INFO, __file__, 1, "seed %d done", (3,), None)
    record.created, record.msecs = 1_764_300_000.25, 250.0  # 2025-11-28T03:20:00.250Z
    assert run_log.formatter().format(record) == "2025-11-28T03:20:00.250Z INFO seed 3 done"


def test_rays_own_lines_and_colours_are_rewritten_for_the_cron_log(tz_new_york):
    ray_job = ray_job_module()
    # Ray's CLI logs in the host's local time, tab-separated, with its source file.
    line = "2026-11-27 21:00:01,234\tINFO cli.py:39 -- Job submission server address: http://127.0.0.1:8265"
    assert ray_job.relog_line(line) == (
        "2026-11-28T02:00:01.234Z INFO Job submission server address: http://127.0.0.1:8265"
    )
    coloured = "\x1b[32m------------------------------------------\x1b[39m \x1b[1mJob 'x' succeeded\x1b[22m"
    assert ray_job.relog_line(coloured) == "------------------------------------------ Job 'x' succeeded"
    ours = "2026-11-28T02:00:02.000Z INFO seed 0: trained [1/2 seeds done]"
    assert ray_job.relog_line(ours) == ours


def test_a_durable_copy_is_written_line_by_line_once_the_run_exists(tmp_path):
    run = Layout(str(tmp_path)).run("r1")
    handler = run_log.attach(run, "nightly-test.log")
    logger = logging.getLogger("lenet_batch.test")
    logger.setLevel(logging.INFO)
    copy = tmp_path / "runs" / "r1" / "logs" / "nightly-test.log"
    try:
        logger.info("loading data")
        assert not (tmp_path / "runs").exists()  # no run yet: the line is held, no folder is made for it
        (tmp_path / "runs" / "r1").mkdir(parents=True)  # the run is recorded
        logger.info("train done")
        # Written through, before any save: the held line first.
        assert [line.split(" ", 2)[2] for line in copy.read_text().splitlines()] == [
            "loading data",
            "train done",
        ]
        logger.info("infer done")
    finally:
        run_log.detach(handler, keep=True)
    lines = copy.read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == ["loading data", "train done", "infer done"]


def test_refused_runs_leave_no_log_in_the_run(tmp_path, capsys):
    # A usage error (no such run) and a held lock: nothing ran, so the run gets no log of the attempt.
    assert cli.main(["infer", "--output", str(tmp_path), "--run-id", "nope"]) == 2
    held = lock.acquire(Layout(str(tmp_path)).run("other"), stale_seconds=3600)
    assert cli.main(["nightly", "--output", str(tmp_path), "--run-id", "x", "--seeds", "0"]) == 5
    assert not (tmp_path / "runs").exists()
    lock.release(Layout(str(tmp_path)).run("other"), held)
    assert len(capsys.readouterr().err.strip().splitlines()) == 2  # one line each
