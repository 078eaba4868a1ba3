"""The run lock: exclusive on local disk and on S3 (conditional create); corrupt, stale and orphaned locks."""

import datetime as dt
import json
import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from lenet_batch.errors import LockHeld
from lenet_batch.store import lock, storage, writers
from lenet_batch.store.layout import Layout


def _exercise(layout: Layout, options=None):
    token = lock.acquire(layout.run("run-a"), stale_seconds=3600)
    with pytest.raises(LockHeld, match="held by run run-a") as refused:
        lock.acquire(layout.run("run-b"), stale_seconds=3600)
    assert refused.value.exit_code == 5
    lock.release(layout.run("run-a"), token)
    assert not storage.exists(layout.lock(), options)
    lock.release(layout.run("run-b"), lock.acquire(layout.run("run-b"), stale_seconds=3600))


def test_local_lock_is_exclusive_and_released(tmp_path):
    _exercise(Layout(str(tmp_path)))


def test_s3_lock_is_exclusive_through_a_conditional_write(s3_endpoint):
    _exercise(Layout(s3_endpoint.uri("out")))


def test_stale_lock_is_taken_over(tmp_path):
    layout = Layout(str(tmp_path))
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=7)).isoformat()
    storage.write_json_atomic(layout.lock(), {"run_id": "dead", "acquired_at": old, "token": "x"})
    token = lock.acquire(layout.run("new"), stale_seconds=6 * 3600)
    assert json.loads((tmp_path / "_lock.json").read_text())["run_id"] == "new"
    lock.release(layout.run("new"), token)


def test_release_leaves_someone_elses_lock(tmp_path):
    layout = Layout(str(tmp_path))
    lock.acquire(layout.run("a"), stale_seconds=60)
    lock.release(layout.run("a"), "not-my-token")
    assert (tmp_path / "_lock.json").exists()


def test_nightly_refuses_to_start_while_the_lock_is_held(tmp_path, capsys):
    from lenet_batch import cli

    lock.acquire(Layout(str(tmp_path)).run("other"), stale_seconds=3600)
    assert cli.main(["nightly", "--output", str(tmp_path), "--run-id", "x", "--seeds", "0"]) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "held by run other" in err[0]
    assert not (tmp_path / "runs" / "x").exists()


# --- locks in every state: corrupt, stale by age, held by a process that is gone ---------------------------

CORRUPT_LOCKS = {
    "empty": b"",
    "truncated": b'{"run_id": "a", "acquired_at": "2026-',
    "a list": b"[]",
    "a string": b'"locked"',
    "null": b"null",
    "no acquired_at": b'{"run_id": "a", "host": "h", "pid": 1}',
    "naive timestamp": b'{"run_id": "a", "acquired_at": "2026-01-01T00:00:00"}',
    "not a time": b'{"run_id": "a", "acquired_at": "yesterday"}',
    "a number as time": b'{"run_id": "a", "acquired_at": 5}',
}


@pytest.mark.parametrize("content", CORRUPT_LOCKS.values(), ids=CORRUPT_LOCKS.keys())
def test_a_fresh_corrupt_lock_is_refused_naming_it_and_left_in_place(tmp_path, content):
    (tmp_path / "_lock.json").write_bytes(content)
    with pytest.raises(LockHeld) as refused:
        lock.acquire(Layout(str(tmp_path)).run("new"), stale_seconds=3600)
    message = str(refused.value)
    assert refused.value.exit_code == 5 and "\n" not in message
    assert f"{tmp_path}/_lock.json is corrupt" in message and f"delete {tmp_path}/_lock.json" in message
    assert (tmp_path / "_lock.json").read_bytes() == content


@pytest.mark.parametrize("content", CORRUPT_LOCKS.values(), ids=CORRUPT_LOCKS.keys())
def test_a_corrupt_lock_older_than_the_stale_age_is_taken_over(tmp_path, content, caplog):
    path = tmp_path / "_lock.json"
    path.write_bytes(content)
    seven_hours_ago = time.time() - 7 * 3600
    os.utime(path, (seven_hours_ago, seven_hours_ago))
    token = lock.acquire(Layout(str(tmp_path)).run("new"), stale_seconds=6 * 3600)
    assert json.loads(path.read_text())["token"] == token
    assert "taking over the lock" in caplog.text and "unreadable" in caplog.text


def _lock_of(holder: dict, age_seconds: float = 0) -> bytes:
    acquired = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age_seconds)
    return json.dumps({"run_id": "old", "token": "t", "acquired_at": acquired.isoformat(), **holder}).encode()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_lock_whose_holder_on_this_host_is_gone_is_taken_over_at_once(tmp_path, caplog):
    pid = _dead_pid()
    (tmp_path / "_lock.json").write_bytes(_lock_of({"host": socket.gethostname(), "pid": pid}))
    token = lock.acquire(Layout(str(tmp_path)).run("new"), stale_seconds=6 * 3600)
    assert json.loads((tmp_path / "_lock.json").read_text())["token"] == token
    assert f"pid {pid} on this host, is no longer running" in caplog.text


@pytest.mark.parametrize(
    "holder",
    [
        pytest.param({"pid": "live"}, id="live process on this host"),
        pytest.param({"pid": "dead", "host": "another-host"}, id="dead pid of another host"),
        pytest.param({"pid": "dead", "pid_ns": "pid:[1]"}, id="another pid namespace (container)"),
        pytest.param({"pid": 0}, id="no usable pid"),
    ],
)
def test_a_fresh_lock_whose_holder_may_be_alive_is_refused(tmp_path, holder):
    pid = {"live": os.getpid(), "dead": _dead_pid()}.get(holder["pid"], holder["pid"])
    fields = {"host": socket.gethostname(), **holder, "pid": pid}
    (tmp_path / "_lock.json").write_bytes(_lock_of(fields))
    with pytest.raises(LockHeld, match="held by run old"):
        lock.acquire(Layout(str(tmp_path)).run("new"), stale_seconds=6 * 3600)


def test_a_pid_reused_by_another_process_counts_as_gone(tmp_path):
    me = writers.this_process().to_json()
    holder = {**me, "pid_started": me["pid_started"] - 1}  # our pid, but not the process that took it
    (tmp_path / "_lock.json").write_bytes(_lock_of(holder))
    lock.release(Layout(str(tmp_path)).run("new"), lock.acquire(Layout(str(tmp_path)).run("new"), 3600))
    assert not (tmp_path / "_lock.json").exists()


def test_on_s3_a_dead_pid_of_this_host_waits_for_the_age_rule(s3_endpoint):
    layout = Layout(s3_endpoint.uri("out"))
    dead = _lock_of({"host": socket.gethostname(), "pid": _dead_pid()})
    storage.write_bytes_atomic(layout.lock(), dead)
    with pytest.raises(LockHeld, match="held by run old"):
        lock.acquire(layout.run("new"), stale_seconds=3600)
    storage.write_bytes_atomic(layout.lock(), _lock_of({"host": "h", "pid": 1}, age_seconds=7200))
    lock.release(layout.run("new"), lock.acquire(layout.run("new"), stale_seconds=3600))
    assert not storage.exists(layout.lock())


def test_on_s3_a_corrupt_lock_is_refused_then_taken_over_by_its_age(s3_endpoint):
    layout = Layout(s3_endpoint.uri("out"))
    storage.write_bytes_atomic(layout.lock(), b"")
    with pytest.raises(LockHeld, match="is corrupt \\(empty\\)"):
        lock.acquire(layout.run("new"), stale_seconds=3600)
    time.sleep(1.2)  # S3 keeps LastModified in whole seconds
    token = lock.acquire(layout.run("new"), stale_seconds=0)
    assert json.loads(storage.read_bytes(layout.lock()))["token"] == token


def test_release_leaves_a_lock_it_cannot_read(tmp_path):
    (tmp_path / "_lock.json").write_bytes(b"[1, 2]")
    lock.release(Layout(str(tmp_path)).run("a"), "token")
    assert (tmp_path / "_lock.json").read_bytes() == b"[1, 2]"


def test_the_lock_records_its_holder_and_honours_the_umask(tmp_path):
    layout = Layout(str(tmp_path))
    old = os.umask(0o027)
    try:
        token = lock.acquire(layout.run("a"), stale_seconds=60)
    finally:
        os.umask(old)
    held = json.loads((tmp_path / "_lock.json").read_text())
    assert held["token"] == token and held["pid"] == os.getpid() and held["host"] == socket.gethostname()
    assert held["pid_started"] == writers.process_start(os.getpid())
    assert stat.S_IMODE((tmp_path / "_lock.json").stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["_lock.json"]  # no temporary file left


def test_nightly_with_an_empty_lock_exits_5_with_one_line_naming_it(tmp_path, capsys):
    from lenet_batch import cli

    (tmp_path / "_lock.json").write_bytes(b"")
    assert cli.main(["nightly", "--output", str(tmp_path), "--run-id", "x", "--seeds", "0"]) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{tmp_path}/_lock.json is corrupt (empty)" in err[0], err
