"""The run lock: exclusive on local disk and on S3 (conditional create), stale locks taken over."""

import datetime as dt
import json

import pytest

from lenet_batch.errors import LockHeld
from lenet_batch.store import lock, storage
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
