"""Faults met by real processes leave the next run able to go: a full disk, storage that refuses or never
answers, SIGTERM mid-training, two writers of one partition, bad rows met inside a Ray task."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lenet_batch.scoring.committed import read_predictions
from lenet_batch.store import lock, writers
from lenet_batch.store.layout import Layout
from tests import helpers
from tests.fault_helpers import assert_one_line_error, closed_port, fill, silent_endpoint, small_tmpfs
from tests.prediction_helpers import fashion, install_run
from tests.s3_server import s3_env

QUICK_STORAGE = ("--storage-timeout", "1", "--storage-retries", "1")


def nightly_args(output: str, data: str, *extra: str) -> list[str]:
    return ["nightly", "--output", output, "--data", data, "--no-verify", "--run-id", "n1", *extra]


# --- a full disk while the lock is created ------------------------------------------------------------------


def test_a_full_disk_leaves_no_lock_and_the_next_night_runs(tmp_path):
    with small_tmpfs(256) as disk:
        output = os.path.join(disk, "out")
        os.mkdir(output)
        filler = fill(disk)
        full = helpers.run_cli(*nightly_args(output, str(tmp_path), "--seeds", "0"), "-q", timeout=300)
        assert_one_line_error(full.returncode, full.stderr, 2, "No space left on device")
        assert os.listdir(output) == []  # no lock, not even an empty one, and no temporary file
        os.unlink(filler)
        # The next night takes the lock (then stops at the missing data, and releases it).
        again = helpers.run_cli(*nightly_args(output, str(tmp_path), "--seeds", "0"), "-q", timeout=300)
        assert_one_line_error(again.returncode, again.stderr, 2, "cannot read Fashion-MNIST file")
        assert os.listdir(output) == []
        run = Layout(output).run("n2")
        lock.release(run, lock.acquire(run, stale_seconds=60))


# --- storage that refuses connections, or accepts them and never answers ------------------------------------


def _timed_cli(*args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = helpers.run_cli(*args, "-q", env=env, timeout=240)
    return result, time.monotonic() - started


@pytest.mark.parametrize(
    ("backend", "args", "message"),
    [
        ("s3", ["nightly", "--output", "s3://bucket/lenet", "--seeds", "0"], "cannot connect"),
        ("s3", ["query", "SELECT 1", "--output", "s3://bucket/lenet"], "cannot connect"),
        (
            "ftp",
            ["nightly", "--output", "ftp://127.0.0.1:{port}/lenet", "--seeds", "0"],
            "Connection refused",
        ),
        ("http", ["data", "--data", "http://127.0.0.1:{port}/fmnist"], "cannot connect"),
    ],
)
def test_a_refused_connection_exits_2_with_one_line(backend, args, message, capsys):
    port = closed_port()
    env = s3_env(f"http://127.0.0.1:{port}") if backend == "s3" else None
    result, seconds = _timed_cli(*(a.format(port=port) for a in args), *QUICK_STORAGE, env=env)
    assert_one_line_error(result.returncode, result.stderr, 2, message)
    with capsys.disabled():
        print(f"\n  refused {backend} ({args[0]}): exit 2 after {seconds:.1f} s (timeout 1 s, 1 retry)")


@pytest.mark.parametrize(
    ("backend", "args"),
    [
        ("s3", ["nightly", "--output", "s3://bucket/lenet", "--seeds", "0"]),
        ("s3", ["summary", "--output", "s3://bucket/lenet", "--run", "r1", "--data", "/nonexistent"]),
        ("http", ["data", "--data", "http://127.0.0.1:{port}/fmnist"]),
        ("ftp", ["nightly", "--output", "ftp://127.0.0.1:{port}/lenet", "--seeds", "0"]),
    ],
)
def test_a_silent_endpoint_exits_2_within_the_storage_timeout(backend, args, capsys):
    with silent_endpoint() as port:
        env = s3_env(f"http://127.0.0.1:{port}") if backend == "s3" else None
        result, seconds = _timed_cli(*(a.format(port=port) for a in args), *QUICK_STORAGE, env=env)
    line = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "no answer in time" in line or "timed out" in line, line
    with capsys.disabled():
        print(f"\n  silent {backend} ({args[0]}): exit 2 after {seconds:.1f} s (timeout 1 s, 1 retry)")


# --- SIGTERM mid-training -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("tiny-fashion-mnist")
    helpers.write_dataset(folder, fashion(), n_train=4000, n_test=1000)
    return str(folder)


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _gone(pid: int) -> bool:
    return not writers.pid_alive(pid) or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def _terminated_after_a_checkpoint(args: list[str], output: Path) -> str:
    """Run `lenet-batch ARGS`, SIGTERM it once both seeds run and one saved a checkpoint; its stderr."""
    driver = subprocess.Popen(
        [str(helpers.VENV_BIN / "lenet-batch"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=helpers.REPO,
    )
    seeds = [output / "runs" / "n1" / "seeds" / f"seed={s}" for s in (0, 1)]
    checkpoint = [s / "checkpoint" / "latest.json" for s in seeds]
    # Both tasks started (a loaded machine may start the second late) and one saved an epoch: mid-training.
    started = [s / "attempts.json" for s in seeds]
    _wait_for(lambda: all(a.exists() for a in started), 300, "both seeds' tasks to start")
    unfinished = lambda c: c.exists() and not (c.parent.parent / "metrics.json").exists()  # noqa: E731
    _wait_for(lambda: any(unfinished(c) for c in checkpoint), 300, "a checkpoint of an unfinished seed")
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 143, err[-3000:]
    return err


@pytest.mark.slow
def test_sigterm_of_a_standalone_train_marks_its_stage_interrupted(tiny_data_dir, tmp_path):
    args = nightly_args(str(tmp_path), tiny_data_dir, "--seeds", "0-1", "--epochs", "4")
    err = _terminated_after_a_checkpoint(["train", *args[1:]], tmp_path)
    assert "Traceback" not in err and "lenet-batch train: stopped by SIGTERM" in err.strip().splitlines()[-1]
    stages = json.loads((tmp_path / "runs" / "n1" / "run.json").read_text())["stages"]
    assert stages["train"]["status"] == "interrupted"


@pytest.mark.slow
def test_sigterm_stops_the_tasks_releases_the_lock_marks_the_stage_and_the_next_run_resumes(
    tiny_data_dir, tmp_path
):
    args = nightly_args(str(tmp_path), tiny_data_dir, "--seeds", "0-1", "--epochs", "4")
    err = _terminated_after_a_checkpoint(args, tmp_path)
    seeds = [tmp_path / "runs" / "n1" / "seeds" / f"seed={s}" for s in (0, 1)]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(
        "lenet-batch nightly: stopped by SIGTERM; tasks stopped, lock released"
    ), err[-3000:]
    assert not (tmp_path / "_lock.json").exists()
    stages = json.loads((tmp_path / "runs" / "n1" / "run.json").read_text())["stages"]
    train = stages["train"]
    assert list(stages) == ["train"] and train["status"] == "interrupted"
    assert train["reason"].startswith("stopped by SIGTERM")
    workers = [a["pid"] for s in seeds for a in json.loads((s / "attempts.json").read_text())]
    _wait_for(lambda: all(_gone(pid) for pid in workers), 30, "the training tasks to stop")
    # A seed whose worker started first may have finished before the other's task began (a loaded machine).
    interrupted = [s for s in seeds if not (s / "metrics.json").exists()]
    assert interrupted

    again = helpers.run_cli(*args, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming after epoch" in again.stderr
    stages = json.loads((tmp_path / "runs" / "n1" / "run.json").read_text())["stages"]
    assert {k: v["status"] for k, v in stages.items()} == {
        s: "complete" for s in ("train", "infer", "summary", "history")
    }
    for seed in interrupted:
        metrics = json.loads((seed / "metrics.json").read_text())
        assert len(metrics["epochs"]) == 4 and len(metrics["attempts"]) == 2


# --- two writers of one partition ---------------------------------------------------------------------------

WRITER = """
import sys
from lenet_batch.scoring.partitions import write_partition
from lenet_batch.store.layout import RunRef
from tests.prediction_helpers import fake_batches
run, seed, rows = RunRef(sys.argv[1], "r"), 0, int(sys.argv[2])
for i in range(int(sys.argv[3])):
    write_partition(run, seed, fake_batches(rows, 200, seed), "e" * 64)
"""


def test_two_processes_writing_one_partition_never_break_each_other(tmp_path):
    writers_ = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(rows), "25"],
            cwd=helpers.REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rows in (1000, 1200)
    ]
    for w in writers_:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err[-3000:]
    folder = tmp_path / "predictions" / "run_id=r" / "seed=0"
    marker = json.loads((folder / "_COMMITTED.json").read_text())
    assert marker["rows"] in (1000, 1200)
    assert pq.read_metadata(folder / "part-00000.parquet").num_rows in (1000, 1200)
    assert not (tmp_path / "predictions" / "_staging").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["_COMMITTED.json", "part-00000.parquet"]


@pytest.mark.slow
def test_two_infer_commands_on_one_run_and_seed_both_commit(ray_cluster, tmp_path):
    install_run(str(tmp_path), "r", [0])
    args = [
        "infer",
        "--output",
        str(tmp_path),
        "--run",
        "r",
        "--seeds",
        "0",
        "--address",
        ray_cluster.address,
        "--force",  # both score, whichever commits first (a rerun without it would skip a scored seed)
    ]
    procs = [
        subprocess.Popen(
            [str(helpers.VENV_BIN / "lenet-batch"), *args, "--json"],
            env=ray_cluster.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=helpers.REPO,
        )
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        assert [(r["seed"], r["status"], r["rows"]) for r in json.loads(out)] == [(0, "scored", 10_000)]
    assert read_predictions(Layout(str(tmp_path)), "r").num_rows == 10_000
    assert not (tmp_path / "predictions" / "_staging").exists()


# --- bad rows met inside a Ray task are bad input, not failed seeds -----------------------------------------


@pytest.mark.slow
def test_bad_rows_inside_a_ray_task_exit_2_and_a_named_input_is_kept_apart(ray_cluster, tmp_path):
    out = str(tmp_path / "out")
    install_run(out, "r", [0, 1])
    base = ["infer", "--output", out, "--run", "r", "--address", ray_cluster.address, "-q"]
    evaluation = helpers.run_cli(*base, env=ray_cluster.env())
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    before = sorted(p.read_bytes() for p in Path(out, "predictions").rglob("part-00000.parquet"))

    images = [img.tobytes() for img in fashion().test_images[:900]]
    labels = [int(x) for x in fashion().test_labels[:900]]
    labels[850] = 12  # in the second batch: met while streaming, inside the tasks
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"image": pa.array(images, pa.binary()), "label": labels}), bad)
    result = helpers.run_cli(*base, "--input", str(bad), "--infer-batch-size", "512", env=ray_cluster.env())
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"lenet-batch infer: error: {bad}: label 12 at row 850 is outside 0-9"
    )

    good = tmp_path / "good.npy"
    np.save(good, fashion().test_images[:300])
    named = helpers.run_cli(*base, "--input", str(good), "--input-name", "week-48", env=ray_cluster.env())
    assert named.returncode == 0, named.stderr[-3000:]
    assert sorted(p.read_bytes() for p in Path(out, "predictions").rglob("part-00000.parquet")) == before
    for seed in (0, 1):
        part = Path(out, "scored", "input=week-48", "run_id=r", f"seed={seed}", "part-00000.parquet")
        assert pq.read_metadata(part).num_rows == 300
    stages = json.loads(Path(out, "runs", "r", "run.json").read_text())["stages"]
    assert stages["infer"]["input"] == "fashion-mnist:test" and stages["infer"]["status"] == "complete"
    assert stages["infer:week-48"]["input"] == str(good) and stages["infer:week-48"]["status"] == "complete"
    assert "infer:bad" not in stages  # bad input changes nothing, not even the record
