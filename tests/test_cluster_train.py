"""Training seeds as Ray tasks on a real local cluster (127.0.0.1, started and stopped by the tests)."""

import datetime as dt
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests import helpers

pytestmark = pytest.mark.slow


def train_args(cluster, output, run_id, data_dir, *extra):
    return (
        "train",
        "--address",
        cluster.address,
        "--output",
        str(output),
        "--run-id",
        run_id,
        "--data",
        data_dir,
        "--no-verify",
        *extra,
    )


def seed_dir(output, run_id, seed) -> Path:
    return Path(output) / "runs" / run_id / "seeds" / f"seed={seed}"


def test_two_seeds_train_in_parallel_then_a_rerun_skips_them(ray_cluster, small_data_dir, tmp_path):
    result = helpers.run_cli(
        *train_args(
            ray_cluster, tmp_path, "par", small_data_dir, "--seeds", "0-1", "--epochs", "2", "--json"
        ),
        env=ray_cluster.env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout)
    assert [(r["seed"], r["status"], r["attempts"]) for r in rows] == [(0, "trained", 1), (1, "trained", 1)]
    for seed in (0, 1):
        metrics = json.loads((seed_dir(tmp_path, "par", seed) / "metrics.json").read_text())
        assert metrics["status"] == "complete" and len(metrics["epochs"]) == 2
        assert metrics["omp_num_threads"] == "1"
        assert (seed_dir(tmp_path, "par", seed) / "model.params").stat().st_size > 200_000
        assert not (seed_dir(tmp_path, "par", seed) / "checkpoint").exists()
    # Both tasks ran at once, in two workers: each seed's attempt started before the other one finished.
    attempts = [json.loads((seed_dir(tmp_path, "par", s) / "attempts.json").read_text())[0] for s in (0, 1)]
    finished = [
        json.loads((seed_dir(tmp_path, "par", s) / "metrics.json").read_text())["finished_at"] for s in (0, 1)
    ]
    starts = [dt.datetime.fromisoformat(a["started_at"]) for a in attempts]
    ends = [dt.datetime.fromisoformat(f) for f in finished]
    assert max(starts) < min(ends), f"no overlap: started {starts}, finished {ends}"
    assert attempts[0]["pid"] != attempts[1]["pid"]
    assert "[2/2 seeds done]" in result.stderr
    run = json.loads((tmp_path / "runs" / "par" / "run.json").read_text())
    assert run["stages"]["train"]["status"] == "complete"

    rerun = helpers.run_cli(
        *train_args(
            ray_cluster, tmp_path, "par", small_data_dir, "--seeds", "0-1", "--epochs", "2", "--json"
        ),
        env=ray_cluster.env(),
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert [r["status"] for r in json.loads(rerun.stdout)] == ["skipped", "skipped"]
    assert "joined Ray cluster" not in rerun.stderr  # nothing left to do: decided before joining


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _checkpointed_pid(output, run_id, seed):
    folder = seed_dir(output, run_id, seed)
    try:
        latest = json.loads((folder / "checkpoint" / "latest.json").read_text())
        attempts = json.loads((folder / "attempts.json").read_text())
    except (OSError, ValueError):
        return None
    return attempts[-1]["pid"] if latest["epoch"] >= 1 else None


def test_killed_worker_is_retried_and_resumes_to_identical_parameters(ray_cluster, small_data_dir, tmp_path):
    args = ("--seeds", "4", "--epochs", "5")
    driver = subprocess.Popen(
        [
            str(helpers.VENV_BIN / "lenet-batch"),
            *train_args(ray_cluster, tmp_path, "killed", small_data_dir, *args),
        ],
        env=ray_cluster.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid = _wait_for(lambda: _checkpointed_pid(tmp_path, "killed", 4), 120, "the first epoch checkpoint")
    os.kill(pid, signal.SIGKILL)
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err[-3000:]
    assert "resuming after epoch" in err
    metrics = json.loads((seed_dir(tmp_path, "killed", 4) / "metrics.json").read_text())
    assert len(metrics["attempts"]) == 2 and len(metrics["epochs"]) == 5

    clean = helpers.run_cli(
        *train_args(ray_cluster, tmp_path, "clean", small_data_dir, *args), env=ray_cluster.env()
    )
    assert clean.returncode == 0, clean.stderr[-3000:]
    killed_params = (seed_dir(tmp_path, "killed", 4) / "model.params").read_bytes()
    assert killed_params == (seed_dir(tmp_path, "clean", 4) / "model.params").read_bytes()


def test_a_failing_seed_does_not_stop_the_others_and_exits_3(ray_cluster, small_data_dir, tmp_path):
    # Seed 1's output folder cannot be created (a file stands in its place): an error of its own.
    blocked = seed_dir(tmp_path, "fail", 1)
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a folder")
    result = helpers.run_cli(
        *train_args(ray_cluster, tmp_path, "fail", small_data_dir, "--seeds", "0-1", "--epochs", "1"),
        env=ray_cluster.env(),
    )
    assert result.returncode == 3, result.stderr[-3000:]
    assert (seed_dir(tmp_path, "fail", 0) / "metrics.json").exists()
    assert "failed" in result.stdout and "1 of 2 seeds failed: [1]" in result.stderr
    run = json.loads((tmp_path / "runs" / "fail" / "run.json").read_text())
    statuses = {r["seed"]: r["status"] for r in run["stages"]["train"]["seeds"]}
    assert statuses == {0: "trained", 1: "failed"}


def test_gpus_without_cuda_mxnet_is_a_clear_error_before_training(ray_cluster, small_data_dir, tmp_path):
    # The test cluster declares one GPU; the MXNet installed here is the CPU build.
    result = helpers.run_cli(
        *train_args(ray_cluster, tmp_path, "gpu", small_data_dir, "--seeds", "0", "--gpus-per-seed", "0.5"),
        env=ray_cluster.env(),
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "no CUDA support" in last and "Traceback" not in result.stderr
    assert not seed_dir(tmp_path, "gpu", 0).exists()
    assert not (tmp_path / "runs" / "gpu").exists()  # checked right after joining: no run.json, no log


def test_infer_command_scores_an_idx_input_with_its_labels(
    ray_cluster, small_data_dir, tmp_path, fashion_mnist
):
    import pyarrow.parquet as pq

    trained = helpers.run_cli(
        *train_args(ray_cluster, tmp_path, "inf", small_data_dir, "--seeds", "0", "--epochs", "1"),
        env=ray_cluster.env(),
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    images = helpers.write_idx(tmp_path / "imgs.idx.gz", fashion_mnist.test_images[:300])
    labels = helpers.write_idx(tmp_path / "labels.idx", fashion_mnist.test_labels[:300], compress=False)
    args = (
        "infer",
        "--address",
        ray_cluster.address,
        "--output",
        str(tmp_path),
        "--run",
        "inf",
        "--input",
        str(images),
        "--input-labels",
        str(labels),
        "--infer-batch-size",
        "128",
        "--json",
    )
    result = helpers.run_cli(*args, env=ray_cluster.env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert [(r["seed"], r["status"], r["rows"]) for r in json.loads(result.stdout)] == [(0, "scored", 300)]
    # a custom input is kept apart from the run's evaluation (README, "Scoring other images")
    table = pq.read_table(tmp_path / "scored" / "input=imgs" / "run_id=inf" / "seed=0" / "part-00000.parquet")
    assert not (tmp_path / "predictions" / "run_id=inf").exists()
    assert table.column("label").to_pylist() == fashion_mnist.test_labels[:300].tolist()
    assert table.column("sample_id").to_pylist() == list(range(300))


def most_at_once(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    """The largest number of intervals that overlap at one moment (an end before a start at a tie)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_most_at_once_counts_overlaps():
    t = [dt.datetime(2026, 1, 1, 0, 0, s) for s in range(10)]
    assert most_at_once([(t[0], t[2]), (t[1], t[3]), (t[2], t[4])]) == 2  # touching ends do not overlap
    assert most_at_once([(t[0], t[5]), (t[1], t[3]), (t[2], t[4])]) == 3


def test_four_seeds_on_two_cpus_train_at_most_two_at_a_time(ray_cluster, small_data_dir, tmp_path):
    # Every seed logs its epochs to the driver; a task that blocked on that (ray.get) gave its CPU away,
    # and Ray started a third seed on two cores.
    args = ("--seeds", "0-3", "--epochs", "3", "--cpus-per-seed", "1")
    result = helpers.run_cli(
        *train_args(ray_cluster, tmp_path, "fit", small_data_dir, *args), env=ray_cluster.env()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    intervals = []
    for seed in range(4):
        folder = seed_dir(tmp_path, "fit", seed)
        started = json.loads((folder / "attempts.json").read_text())[-1]["started_at"]
        finished = json.loads((folder / "metrics.json").read_text())["finished_at"]
        intervals.append((dt.datetime.fromisoformat(started), dt.datetime.fromisoformat(finished)))
    assert most_at_once(intervals) == 2, intervals
    assert result.stderr.count("epoch 3/3") == 4  # every seed's lines, once each
