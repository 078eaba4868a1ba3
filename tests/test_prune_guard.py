"""Who may run beside `prune`: it marks itself as a hand command on the history (store/hand_writers.py), so
a live nightly, a hand `history` or another prune refuses it (exit 5), and a nightly, a hand command or a
second prune that starts while it runs is refused in turn; a dry run waits for nothing and shows the
nightly's night protected. Marks that cannot be writing stop nothing."""

import dataclasses
import datetime as dt
import json

import pytest

from lenet_batch import cli
from lenet_batch.errors import LockHeld
from lenet_batch.pipeline.prune import prune
from lenet_batch.store import hand_writers, lock, storage, writers
from lenet_batch.store.layout import Layout
from tests.prune_helpers import files_of, full_nights


@pytest.fixture(params=["local", "s3"])
def layout(request, tmp_path, monkeypatch) -> Layout:
    """Four nights, the newest failed, locally or on S3; reference window 1."""
    monkeypatch.setenv("LENET_BATCH_REFERENCE_WINDOW", "1")
    uri = (
        str(tmp_path / "out")
        if request.param == "local"
        else request.getfixturevalue("s3_endpoint").uri("out")
    )
    full_nights(uri, 4, {3: "failed"})
    return Layout(uri)


def _mark(layout: Layout, command: str, run_id: str | None, **change) -> str:
    """A live hand command's mark (this process, unless `change` says otherwise); its URI."""
    started = dt.datetime.now(dt.UTC).isoformat()
    mark = writers.this_process(hand_writers.WriterMark, command=command, run_id=run_id, started_at=started)
    mark = dataclasses.replace(mark, **change)
    uri = hand_writers.marker_uri(layout, mark)
    storage.write_json_atomic(uri, mark.to_json(), layout.options)
    return uri


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_live_nightly_refuses_the_prune_and_its_dry_run_shows_the_night_protected(layout, capsys):
    token = lock.acquire(layout.run("2026-01-02"), 3600)
    try:
        before = files_of(layout.output)
        code, out, err = run(capsys, "prune", "--output", layout.output, "--keep", "1")
        assert code == 5 and out == "" and len(err.strip().splitlines()) == 1 and "nightly" in err
        assert files_of(layout.output) == before
        code, out, _ = run(capsys, "prune", "--output", layout.output, "--keep", "1", "--dry-run", "--json")
        assert code == 0 and files_of(layout.output) == before
        doc = json.loads(out)
        fate = next(n for n in doc["nights"] if n["run_id"] == "2026-01-02")
        assert fate["action"] == "protected" and fate["reason"].startswith("a nightly is writing it")
        assert "held by run 2026-01-02" in doc["lock"] and "exit 5" in doc["lock"]
    finally:
        lock.release(layout.run("2026-01-02"), token)


def test_a_hand_history_refuses_the_prune_and_a_hand_infer_keeps_its_night(layout):
    history = _mark(layout, "history", None)
    before = files_of(layout.output)
    with pytest.raises(LockHeld, match=r"history is being written by a hand `history`"):
        prune(layout, "1", window=1)
    assert files_of(layout.output) == before
    storage.remove(history, layout.options)
    _mark(layout, "infer", "2026-01-01")
    result = prune(layout, "1", window=1)
    assert {n.run_id: n.action for n in result.nights if n.action != "keep"} == {
        "2026-01-03": "protected",  # the baseline of the next night
        "2026-01-02": "prune",
        "2026-01-01": "protected",
    }


@pytest.mark.parametrize(
    "argv",
    [
        ("history",),
        ("prune", "--keep", "1"),
        ("accept", "2026-01-03", "--reason", "new data"),
    ],
    ids=["history", "second prune", "accept"],
)
def test_a_running_prune_refuses_hand_commands_and_a_second_prune(layout, capsys, argv):
    _mark(layout, "prune", None, host="another-host")  # live: a process elsewhere, started just now
    before = {k: v for k, v in files_of(layout.output).items() if "_writers" not in k}
    code, _, err = run(capsys, argv[0], "--output", layout.output, *argv[1:])
    assert code == 5 and "is being pruned (host another-host" in err and len(err.strip().splitlines()) == 1
    assert {k: v for k, v in files_of(layout.output).items() if "_writers" not in k} == before


def test_a_running_prune_refuses_the_nightly(layout):
    _mark(layout, "prune", None, host="another-host")
    with pytest.raises(LockHeld, match=r"history is being written by a hand `prune`"):
        hand_writers.refuse_if_hand_writers(layout, "2026-01-05", stale_seconds=3600)


@pytest.mark.parametrize(
    "change",
    [{"pid": "gone"}, {"started_at": "2026-01-01T00:00:00+00:00"}],
    ids=["process gone", "stale"],
)
def test_a_prune_mark_that_cannot_be_pruning_stops_nothing(layout, capsys, change):
    if change.get("pid") == "gone":
        import subprocess
        import sys

        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        change = {"pid": child.pid, "pid_started": None}
    _mark(layout, "prune", None, **change)
    assert run(capsys, "history", "--output", layout.output)[0] == 0
    assert prune(layout, "1", window=1).pruned == 2


def test_an_unreadable_prune_mark_refuses_the_prune_not_a_hand_command(layout, capsys):
    storage.write_bytes_atomic(
        storage.join(layout.output, "_writers", "prune-x.json"), b"{trunc", layout.options
    )
    assert run(capsys, "history", "--output", layout.output)[0] == 0
    with pytest.raises(LockHeld, match="prune-x.json is not a readable writer mark"):
        prune(layout, "1", window=1)
