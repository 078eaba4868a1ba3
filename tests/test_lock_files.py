"""The lock and the writer marks as others may leave them: not a regular file (exit 5 naming the path to
delete, never a wait, never exit 2), or dated ahead of this host's clock (stale, warned, never a block for
ever); locally and on S3."""

import datetime as dt
import json
import logging
import os
import socket
import time

import pytest

from lenet_batch import cli
from lenet_batch.errors import LockHeld
from lenet_batch.store import found_files, hand_writers, lock, storage, writers
from lenet_batch.store.layout import Layout
from tests.fault_helpers import assert_one_line_error
from tests.input_helpers import run_main
from tests.special_files import NOT_A_FILE, deadline, make

MEMBERS = list(NOT_A_FILE)
SEVEN_HOURS = 7 * 3600


def _age_by(path, seconds: float) -> None:
    """Date the path itself (not what a link points to) `seconds` ago."""
    when = time.time() - seconds
    os.utime(path, (when, when), follow_symlinks=False)


@pytest.mark.parametrize("member", MEMBERS)
def test_a_lock_that_is_not_a_regular_file_refuses_every_run_naming_the_path_to_delete(tmp_path, member):
    path = tmp_path / "_lock.json"
    reason = make(member, path)
    _age_by(path, SEVEN_HOURS)  # however old: nothing this program wrote is taken over
    with deadline(10), pytest.raises(LockHeld) as refused:
        lock.acquire(Layout(str(tmp_path)).run("new"), stale_seconds=3600)
    message = str(refused.value)
    assert refused.value.exit_code == 5 and "\n" not in message
    assert (
        message.startswith(f"{path} is not a lock ({reason})") and f"delete {path} and start again" in message
    )
    assert os.path.lexists(path) and not os.path.isfile(path)  # left as it was


@pytest.mark.parametrize("command", ["nightly", "summary", "history", "check"])
@pytest.mark.parametrize("member", ["fifo", "folder", "symlink-loop", "dev-zero"])
def test_every_command_that_reads_the_lock_ends_in_one_line_with_exit_5(tmp_path, capsys, command, member):
    out = tmp_path / "out"
    out.mkdir()
    reason = make(member, out / "_lock.json")
    args = {
        "nightly": ["nightly", "--run-id", "x", "--seeds", "0"],
        "summary": ["summary", "--run", "x"],
        "history": ["history"],
        "check": ["check"],
    }[command]
    with deadline(30):
        code = cli.main([*args, "--output", str(out)])
    said = capsys.readouterr()
    # check reports the state it found on stdout (running: a lock no nightly takes over); the others refuse
    line = assert_one_line_error(code, said.out if command == "check" else said.err, 5, reason)
    assert f"delete {out}/_lock.json" in line
    assert sorted(p.name for p in out.iterdir()) == ["_lock.json"]  # a refused command writes nothing


def test_a_lock_too_large_to_be_ours_is_not_a_lock(tmp_path):
    path = tmp_path / "_lock.json"
    with open(path, "wb") as f:
        f.truncate(found_files.LIMIT + 1)
    with pytest.raises(LockHeld, match=rf"is not a lock \(too large \({found_files.LIMIT + 1} bytes"):
        lock.acquire(Layout(str(tmp_path)).run("new"), stale_seconds=1)


def _lock_dated(when: dt.datetime, **holder) -> bytes:
    fields = {"run_id": "old", "token": "t", "acquired_at": when.isoformat(), "host": "h", "pid": 1, **holder}
    return json.dumps(fields).encode()


YEAR_2999 = dt.datetime(2999, 1, 1, tzinfo=dt.UTC)
FUTURE = {  # when (a time, or how far ahead of the test's start), and who holds it
    "year 2999, another host": (YEAR_2999, {"host": "another-host"}),
    "year 2999, this host, pid 1": (YEAR_2999, {"host": socket.gethostname()}),
    "an hour ahead": (dt.timedelta(hours=1), {}),
    "11 minutes ahead": (dt.timedelta(minutes=11), {}),
}


def _when(given: dt.datetime | dt.timedelta) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + given if isinstance(given, dt.timedelta) else given


@pytest.mark.parametrize("case", FUTURE.values(), ids=FUTURE.keys())
def test_a_lock_dated_ahead_of_this_clock_is_stale_and_taken_over_with_a_warning(tmp_path, caplog, case):
    when, holder = _when(case[0]), case[1]
    (tmp_path / "_lock.json").write_bytes(_lock_dated(when, **holder))
    layout = Layout(str(tmp_path))
    seen = lock.holder(layout, stale_seconds=3600)
    assert seen is not None and "ahead of this host's clock" in seen.stale  # check: not a live nightly
    token = lock.acquire(layout.run("new"), stale_seconds=3600)
    assert json.loads((tmp_path / "_lock.json").read_text())["token"] == token
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(
        f"taking over the lock {tmp_path}/_lock.json: its acquired_at {when.isoformat()}"
    )
    assert "ahead of this host's clock (check the clock of this host" in warning


def test_a_lock_a_few_minutes_ahead_is_believed(tmp_path):
    """Clocks of two hosts differ by seconds or minutes: within 10 minutes, the lock holds."""
    (tmp_path / "_lock.json").write_bytes(_lock_dated(_when(dt.timedelta(minutes=5))))
    with pytest.raises(LockHeld, match="is held by run old"):
        lock.acquire(Layout(str(tmp_path)).run("new"), stale_seconds=3600)


def test_a_corrupt_lock_last_changed_in_the_future_is_taken_over(tmp_path, caplog):
    path = tmp_path / "_lock.json"
    path.write_bytes(b"")
    _age_by(path, -400 * 86400)  # its file dated 400 days ahead
    lock.release(Layout(str(tmp_path)).run("new"), lock.acquire(Layout(str(tmp_path)).run("new"), 3600))
    assert "its last change lies 400 days ahead of this host's clock" in caplog.text


def test_a_hand_command_passes_a_future_lock_with_a_warning(tmp_path, caplog):
    (tmp_path / "_lock.json").write_bytes(_lock_dated(YEAR_2999, run_id="n"))
    lock.refuse_if_held(Layout(str(tmp_path)), "summary", "n", stale_seconds=3600)
    assert f"{tmp_path}/_lock.json counts as stale: its acquired_at 2999-01-01" in caplog.text


# --- writer marks -------------------------------------------------------------------------------------------


def _marks(tmp_path) -> tuple[Layout, os.PathLike]:
    (tmp_path / "out" / hand_writers.MARKERS).mkdir(parents=True)
    return Layout(str(tmp_path / "out")), tmp_path / "out" / hand_writers.MARKERS


@pytest.mark.parametrize("member", MEMBERS)
def test_a_mark_that_is_not_a_regular_file_refuses_the_nightly_naming_it(tmp_path, member):
    layout, folder = _marks(tmp_path)
    path = folder / "summary-night-h-1.json"
    reason = make(member, path)
    _age_by(path, SEVEN_HOURS)
    with deadline(10), pytest.raises(LockHeld) as refused:
        hand_writers.refuse_if_hand_writers(layout, "night", stale_seconds=3600)
    message = str(refused.value)
    assert refused.value.exit_code == 5 and "\n" not in message
    assert message.startswith(f"{path} is not a readable writer mark ({reason})")
    assert f"delete {path} and start again" in message and "stops counting" not in message


@pytest.mark.parametrize("member", ["fifo", "symlink-loop", "dev-null"])
def test_a_marks_folder_that_is_not_a_folder_refuses_the_nightly(tmp_path, member):
    (tmp_path / "out").mkdir()
    make(member, tmp_path / "out" / hand_writers.MARKERS)
    with deadline(10), pytest.raises(LockHeld, match=rf"{tmp_path}/out/_writers is not a folder.*delete"):
        hand_writers.refuse_if_hand_writers(Layout(str(tmp_path / "out")), "night", stale_seconds=3600)


CORRUPT_MARKS = {
    "empty": b"",
    "truncated": b'{"command": "summary", "started_at": "2026-',
    "a list": b"[]",
    "no command": b'{"started_at": "2026-01-01T00:00:00Z"}',
    "start not a time": b'{"command": "summary", "run_id": "night", "started_at": "yesterday"}',
    "pid a string": b'{"command": "summary", "started_at": "2026-01-01T00:00:00Z", "pid": "12"}',
    "nested deeply": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("content", CORRUPT_MARKS.values(), ids=CORRUPT_MARKS.keys())
def test_a_damaged_mark_refuses_the_nightly_until_it_is_older_than_the_stale_age(tmp_path, content):
    layout, folder = _marks(tmp_path)
    path = folder / "summary-night-h-1.json"
    path.write_bytes(content)
    with pytest.raises(
        LockHeld, match=rf"{path} is not a readable writer mark \(.*delete {path}.*3600 s old"
    ):
        hand_writers.refuse_if_hand_writers(layout, "night", stale_seconds=3600)
    _age_by(path, SEVEN_HOURS)
    hand_writers.refuse_if_hand_writers(layout, "night", stale_seconds=3600)  # stale: stops nothing


@pytest.mark.parametrize("host", ["another-host", "this host"])
def test_a_mark_dated_ahead_of_this_clock_counts_as_stale_with_a_warning(tmp_path, caplog, host):
    layout, folder = _marks(tmp_path)
    storage.write_json_atomic(
        str(folder / "m.json"), {**_mark_json(host), "started_at": "2999-01-01T00:00:00Z"}
    )
    hand_writers.refuse_if_hand_writers(layout, "night", stale_seconds=3600)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"{folder}/m.json counts as stale: its start lies")
    assert "ahead of this host's clock" in warning and "delete it if no hand command is running" in warning


def _mark_json(host: str) -> dict:
    me = writers.this_process(hand_writers.WriterMark, command="summary", run_id="night", started_at="x")
    doc = me.to_json()
    return doc if host == "this host" else {**doc, "host": host, "pid": 1}


# --- the same on S3: no special files, but objects too large, and prefixes named like the lock -------------


def test_on_s3_a_lock_too_large_to_be_ours_refuses_naming_it(s3_endpoint, capsys):
    layout = Layout(s3_endpoint.uri("out"))
    storage.write_bytes_atomic(layout.lock(), b"{" + b" " * found_files.LIMIT)
    code, err = run_main(capsys, "nightly", "--output", layout.output, "--run-id", "x", "--seeds", "0")
    line = assert_one_line_error(code, err, 5, f"{layout.lock()} is not a lock (too large")
    assert f"delete {layout.lock()}" in line


def test_on_s3_a_prefix_named_like_the_lock_is_not_in_its_way(s3_endpoint):
    import boto3

    layout = Layout(s3_endpoint.uri("out"))
    client = boto3.client("s3", endpoint_url=s3_endpoint.url)
    for key in ("out/_lock.json/", "out/_lock.json/inside"):  # "_lock.json" as a folder: marker and content
        client.put_object(Bucket=s3_endpoint.bucket, Key=key, Body=b"")
    token = lock.acquire(layout.run("new"), stale_seconds=3600)
    assert json.loads(storage.read_bytes(layout.lock()))["token"] == token
    lock.release(layout.run("new"), token)
    listed = client.list_objects_v2(Bucket=s3_endpoint.bucket, Prefix="out/")["Contents"]
    assert sorted(o["Key"] for o in listed) == ["out/_lock.json/", "out/_lock.json/inside"]


def test_on_s3_a_lock_dated_ahead_is_taken_over(s3_endpoint, caplog):
    layout = Layout(s3_endpoint.uri("out"))
    storage.write_bytes_atomic(layout.lock(), _lock_dated(YEAR_2999))
    lock.release(layout.run("new"), lock.acquire(layout.run("new"), stale_seconds=3600))
    assert "ahead of this host's clock" in caplog.text and not storage.exists(layout.lock())


def test_on_s3_a_mark_too_large_or_dated_ahead(s3_endpoint, caplog):
    layout = Layout(s3_endpoint.uri("out"))
    folder = storage.join(layout.output, hand_writers.MARKERS)
    storage.write_json_atomic(
        storage.join(folder, "a.json"), {**_mark_json("h"), "started_at": "2999-01-01T00:00:00Z"}
    )
    hand_writers.refuse_if_hand_writers(layout, "night", stale_seconds=3600)
    assert "counts as stale" in caplog.text
    storage.write_bytes_atomic(storage.join(folder, "b.json"), b" " * (found_files.LIMIT + 1))
    with pytest.raises(LockHeld, match=rf"{folder}/b.json is not a readable writer mark \(too large"):
        hand_writers.refuse_if_hand_writers(layout, "night", stale_seconds=3600)
