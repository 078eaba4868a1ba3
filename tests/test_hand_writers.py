"""A hand infer, summary or history and the nightly exclude each other both ways (store/hand_writers.py):
the hand command marks itself and checks the lock, the nightly takes the lock and checks the marks, so the
one that comes second is refused with exit 5, whichever it is and however close the two start; locally and
on S3. Marks of processes that are gone, or older than the stale age, stop nothing; none is left behind."""

import dataclasses
import datetime as dt
import subprocess
import sys

import pytest

from lenet_batch import cli
from lenet_batch.errors import LockHeld
from lenet_batch.store import hand_writers, lock, storage, writers
from lenet_batch.store.layout import Layout
from tests import helpers


@pytest.fixture(params=["local", "s3"])
def layout(request, tmp_path) -> Layout:
    if request.param == "local":
        (tmp_path / "out").mkdir()  # a local output that does not exist holds no run, and gets no mark
        return Layout(str(tmp_path / "out"))
    return Layout(request.getfixturevalue("s3_endpoint").uri("out"))


def _mark(layout: Layout, command: str, run_id: str | None, **change) -> str:
    """A hand command's mark, as hand_writer writes it (this live process unless `change` says otherwise);
    returns its URI."""
    started = dt.datetime.now(dt.UTC).isoformat()
    mark = writers.this_process(hand_writers.WriterMark, command=command, run_id=run_id, started_at=started)
    mark = dataclasses.replace(mark, **change)
    uri = hand_writers.marker_uri(layout, mark)
    storage.write_json_atomic(uri, mark.to_json(), layout.options)
    return uri


def _gone_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(("command", "run_id"), [("summary", "night"), ("infer", "night"), ("history", None)])
def test_the_nightly_is_refused_while_a_hand_command_writes_its_run_or_the_history(layout, command, run_id):
    _mark(layout, command, run_id)
    with pytest.raises(LockHeld, match=rf"hand `{command}` \(host .*pid {writers.this_process().pid}"):
        hand_writers.refuse_if_hand_writers(layout, "night", stale_seconds=3600)


@pytest.mark.parametrize(
    "mark",
    [
        {"run_id": "another-night"},  # another run: no conflict
        {"pid_started": None, "pid": "gone"},  # its process has exited (this host, this boot)
        {"started_at": "2026-01-01T00:00:00+00:00"},  # older than the stale age (another host may hold it)
    ],
    ids=["other run", "process gone", "stale"],
)
def test_marks_that_cannot_be_writing_the_run_stop_nothing(layout, mark):
    mark = dict(mark)
    run_id = mark.pop("run_id", "night")
    if mark.get("pid") == "gone":
        mark["pid"] = _gone_pid()
    _mark(layout, "summary", run_id, **mark)
    hand_writers.refuse_if_hand_writers(layout, "night", stale_seconds=3600)


def test_a_nightly_that_takes_the_lock_between_the_mark_and_the_check_refuses_the_hand_command(
    layout, monkeypatch
):
    """The race: the hand command marked itself, then a nightly took the lock. The hand command's second
    look sees the lock and steps back, removing its mark (and the nightly, had it looked first, saw it)."""
    real_write, taken = storage.write_json_atomic, []

    def write_then_a_nightly_starts(uri, value, options=None):
        real_write(uri, value, options)
        if hand_writers.MARKERS in uri and not taken:
            taken.append(lock.acquire(layout.run("night"), stale_seconds=3600))

    monkeypatch.setattr(storage, "write_json_atomic", write_then_a_nightly_starts)
    with pytest.raises(LockHeld, match="is being written by a nightly"):
        with hand_writers.hand_writer(layout, "summary", "night", stale_seconds=3600):
            pytest.fail("the hand command ran while the nightly held the lock")
    assert taken and not storage.list_dir(storage.join(layout.output, hand_writers.MARKERS), layout.options)
    lock.release(layout.run("night"), taken[0])


def test_a_hand_command_marks_itself_while_it_runs_and_leaves_nothing(layout):
    with hand_writers.hand_writer(layout, "infer", "night", stale_seconds=3600):
        with pytest.raises(LockHeld, match="hand `infer`"):
            hand_writers.refuse_if_hand_writers(layout, "night", stale_seconds=3600)
    hand_writers.refuse_if_hand_writers(layout, "night", stale_seconds=3600)
    assert not storage.list_dir(storage.join(layout.output, hand_writers.MARKERS), layout.options)


def test_a_real_nightly_started_during_a_hand_summary_exits_5_and_writes_nothing(tmp_path, small_data_dir):
    out = tmp_path / "out"
    _mark(Layout(str(out)), "summary", "n1")  # this test process: a live hand summary of n1
    night = helpers.run_cli(
        *("nightly", "--output", str(out), "--run-id", "n1", "--data", small_data_dir, "--no-verify"),
        *("--seeds", "0", "--epochs", "1", "-q"),
    )
    assert night.returncode == 5, night.stderr[-2000:]
    (line,) = [x for x in night.stderr.splitlines() if x.strip()]
    assert "run n1 is being written by a hand `summary`" in line
    assert sorted(p.name for p in out.iterdir()) == [hand_writers.MARKERS]  # no lock, no run, no log


def test_a_hand_summary_during_a_nightly_is_refused_and_leaves_no_mark(tmp_path, capsys):
    layout = Layout(str(tmp_path / "out"))
    token = lock.acquire(layout.run("n1"), stale_seconds=3600)
    try:
        code = cli.main(["summary", "--run", "n1", "--output", layout.output, "-q"])
    finally:
        lock.release(layout.run("n1"), token)
    assert code == 5 and "is being written by a nightly" in capsys.readouterr().err
    assert not storage.exists(storage.join(layout.output, hand_writers.MARKERS))
