"""Partitions under failure: a failed or killed writer keeps the old file; a rerun touches its run only."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from lenet_batch.data.inputs import ImageSource
from lenet_batch.scoring.committed import committed_partitions, read_predictions
from lenet_batch.scoring.partitions import write_partition
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout, RunRef
from tests import helpers
from tests.helpers import score_seed
from tests.prediction_helpers import fake_batches, fashion, install_run, snapshot


def part_file(output, run_id: str, seed: int) -> Path:
    return Path(RunRef(str(output), run_id).partition_dir(seed)) / "part-00000.parquet"


def visible_parquet_files(output) -> list[str]:
    """What a reader globbing predictions/**/*.parquet would see."""
    return sorted(str(p.relative_to(output)) for p in (Path(output) / "predictions").rglob("*.parquet"))


def test_a_failure_while_writing_keeps_the_old_partition_and_leaves_nothing_visible(tmp_path):
    layout = Layout(str(tmp_path))
    write_partition(layout.run("A"), 0, fake_batches(3000, seed=1), "a" * 64)
    before = snapshot(str(tmp_path), "A", 0)

    def failing():
        yield from fake_batches(2000, seed=2)
        raise RuntimeError("scoring crashed")

    with pytest.raises(RuntimeError, match="scoring crashed"):
        write_partition(layout.run("A"), 0, failing(), "b" * 64)
    assert snapshot(str(tmp_path), "A", 0) == before
    assert visible_parquet_files(tmp_path) == ["predictions/run_id=A/seed=0/part-00000.parquet"]
    assert storage.list_dir(storage.join(layout.staging_dir(), "A")) == []
    assert read_predictions(layout, "A").num_rows == 3000


KILLED_WRITER = """
import sys, time
from pathlib import Path
from lenet_batch.scoring.partitions import write_partition
from lenet_batch.store.layout import RunRef
from tests.prediction_helpers import fake_batches

def batches():
    yield from fake_batches(5000, seed=3)
    Path(sys.argv[2]).write_text("mid-write")
    time.sleep(120)

write_partition(RunRef(sys.argv[1], "A"), 0, batches(), "c" * 64)
"""


def test_a_writer_killed_mid_write_leaves_the_previous_predictions_readable(tmp_path):
    output, flag = tmp_path / "out", tmp_path / "flag"
    layout = Layout(str(output))
    write_partition(layout.run("A"), 0, fake_batches(3000, seed=1), "a" * 64)
    before = snapshot(str(output), "A", 0)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(output), str(flag)], cwd=helpers.REPO)
    try:
        deadline = time.time() + 60
        while not flag.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert flag.exists(), "the writer never got mid-write"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert snapshot(str(output), "A", 0) == before
    staged = storage.list_dir(storage.join(layout.staging_dir(), "A"))
    assert len(staged) == 1 and not staged[0].endswith(".parquet")  # the killed write, invisible
    assert visible_parquet_files(output) == ["predictions/run_id=A/seed=0/part-00000.parquet"]
    # Readers of every kind see the old 3000 rows only.
    assert read_predictions(layout, "A").num_rows == 3000
    assert ds.dataset(layout.predictions_root(), partitioning="hive").count_rows() == 3000
    glob = f"{layout.predictions_root()}/**/*.parquet"
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=true)").fetchall() == [
        (3000,)
    ]
    # The next write of that partition commits and removes the killed writer's leftover.
    write_partition(layout.run("A"), 0, fake_batches(10), "d" * 64)
    assert storage.list_dir(storage.join(layout.staging_dir(), "A")) == []
    assert read_predictions(layout, "A").num_rows == 10


def test_rerun_of_run_a_replaces_only_its_partitions_and_leaves_run_b_untouched(tmp_path):
    out = str(tmp_path)
    install_run(out, "A", [0])
    install_run(out, "B", [0, 1])
    split = {"test_images": fashion().test_images[:500], "test_labels": fashion().test_labels[:500]}
    for run_id, seed in (("A", 0), ("B", 0), ("B", 1)):
        score_seed(RunRef(out, run_id), seed, ImageSource(uri=None, batch_size=128), test_split=split)
    b_before = [snapshot(out, "B", s) for s in (0, 1)]
    b_mtimes = [part_file(tmp_path, "B", s).stat().st_mtime_ns for s in (0, 1)]
    a_before = snapshot(out, "A", 0)
    time.sleep(1.1)  # committed_at has one-second resolution
    score_seed(RunRef(out, "A"), 0, ImageSource(uri=None, batch_size=100), test_split=split)
    assert [snapshot(out, "B", s) for s in (0, 1)] == b_before
    assert [part_file(tmp_path, "B", s).stat().st_mtime_ns for s in (0, 1)] == b_mtimes
    a_after = snapshot(out, "A", 0)
    assert a_after[1]["committed_at"] > a_before[1]["committed_at"]
    assert committed_partitions(Layout(out)) == [
        (r, s, str(part_file(tmp_path, r, s))) for r, s in (("A", 0), ("B", 0), ("B", 1))
    ]
