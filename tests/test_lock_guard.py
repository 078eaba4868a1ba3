"""Writers of one run exclude each other: a hand infer, summary or history on what a nightly is writing is
refused with exit 5 naming the holder, locally and on S3; a lock whose holder is gone stops nothing, and on
S3 a holder of this machine whose pid is gone is taken over at once, as locally."""

import json
import subprocess
import sys

import pytest

from lenet_batch import cli
from lenet_batch.store import lock, storage, writers
from lenet_batch.store.layout import Layout

HAND_COMMANDS = {
    "infer": ["infer", "--run", "night"],
    "summary": ["summary", "--run", "night", "--data", "/nonexistent"],
    "history": ["history"],
}


@pytest.fixture(params=["local", "s3"])
def output(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path)
    return request.getfixturevalue("s3_endpoint").uri("out")


def _dead_holder() -> dict:
    """This machine's identity (host, boot id, pid namespace) with the pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return {**writers.this_process().to_json(), "pid": child.pid, "pid_started": None}


def _lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]


@pytest.mark.parametrize("command", HAND_COMMANDS)
def test_a_hand_command_on_what_a_nightly_writes_is_refused_naming_the_holder(output, command, capsys):
    layout = Layout(output)
    token = lock.acquire(layout.run("night"), stale_seconds=3600)  # a live nightly: this very process
    storage.write_json_atomic(layout.run("night").run_json, {"run_id": "night", "stages": {}})
    try:
        code = cli.main([*HAND_COMMANDS[command], "--output", output, "-q"])
        lines = _lines(capsys)
        assert code == 5 and len(lines) == 1, lines
        assert "is being written by a nightly" in lines[0] and f"`{command}` is refused" in lines[0]
        assert f"pid {writers.this_process().pid}" in lines[0]
        assert not storage.exists(layout.run("night").summary_dir)  # nothing was written
        assert storage.list_dir(layout.run("night").run_dir) == ["run.json"]  # not even a log
    finally:
        lock.release(layout.run("night"), token)


@pytest.mark.parametrize("command", ["infer", "summary"])
def test_a_hand_command_on_another_run_goes_ahead(output, command, capsys):
    token = lock.acquire(Layout(output).run("night"), stale_seconds=3600)
    try:
        args = [a.replace("night", "older") for a in HAND_COMMANDS[command]]
        assert cli.main([*args, "--output", output, "-q"]) == 2  # past the guard: that run has nothing
        line = _lines(capsys)[-1]
        assert "older" in line and "nightly" not in line, line
    finally:
        lock.release(Layout(output).run("night"), token)


def test_a_lock_whose_holder_is_gone_stops_no_hand_command(output, capsys):
    layout = Layout(output)
    holder = {**_dead_holder(), "run_id": "night", "acquired_at": "2026-01-01T00:00:00+00:00", "token": "t"}
    storage.write_json_atomic(layout.lock(), {**holder, "acquired_at": lock.now_utc()})
    storage.write_json_atomic(layout.run("night").run_json, {"run_id": "night", "stages": {}})
    assert cli.main(["history", "--output", output, "-q"]) == 0
    assert storage.exists(layout.history_dir() + "/history.html")
    assert storage.exists(layout.lock())  # left for the next nightly to take over


def test_on_s3_a_holder_of_this_machine_whose_pid_is_gone_is_taken_over_at_once(s3_endpoint, caplog):
    layout = Layout(s3_endpoint.uri("out"))
    holder = _dead_holder()
    storage.write_json_atomic(
        layout.lock(), {**holder, "run_id": "old", "acquired_at": lock.now_utc(), "token": "t"}
    )
    token = lock.acquire(layout.run("new"), stale_seconds=6 * 3600)
    assert json.loads(storage.read_bytes(layout.lock()))["token"] == token
    assert f"pid {holder['pid']} on this host, is no longer running" in caplog.text
    lock.release(layout.run("new"), token)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"boot_id": "another-boot"}, id="another machine of the same name"),
        pytest.param({"boot_id": None}, id="no boot id recorded"),
    ],
)
def test_on_s3_a_dead_pid_that_may_be_another_machines_waits_for_the_age_rule(s3_endpoint, change):
    layout = Layout(s3_endpoint.uri("out"))
    holder = {**_dead_holder(), **change, "run_id": "old", "acquired_at": lock.now_utc(), "token": "t"}
    storage.write_json_atomic(layout.lock(), holder)
    with pytest.raises(lock.LockHeld, match="held by run old"):
        lock.acquire(layout.run("new"), stale_seconds=3600)
