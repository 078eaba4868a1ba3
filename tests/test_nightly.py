"""The nightly pipeline end to end on a local Ray: local folder and S3 (moto on 127.0.0.1)."""

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests import helpers

pytestmark = pytest.mark.slow

ISO_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def assert_log_lines_are_stamped_alike(stderr: str) -> None:
    """Every log line, the driver's and Ray's (worker lines carry Ray's '(task pid=…)' prefix), is ISO UTC."""
    lines = [re.sub(r"^\(\w+ pid=\d+\) ", "", ln) for ln in stderr.splitlines() if ln.strip()]
    unstamped = [ln for ln in lines if not ISO_LINE.match(ln)]
    assert not unstamped, unstamped[:5]
    assert "Token authentication is enabled" not in stderr and "\x1b[" not in stderr


def seed_progress(text: str) -> list[tuple[int, int]]:
    """(k, n) of the driver's '[k/n seeds done]' lines, in the order they were written."""
    return [(int(k), int(n)) for k, n in re.findall(r"\[(\d+)/(\d+) seeds done\]", text)]


def test_nightly_locally_completes_then_a_rerun_resumes_without_retraining(small_data_dir, tmp_path):
    args = (
        "nightly",
        "--output",
        str(tmp_path),
        "--run-id",
        "night",
        "--data",
        small_data_dir,
        "--no-verify",
        "--seeds",
        "0-1",
        "--epochs",
        "1",
    )
    first = helpers.run_cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    report = tmp_path / "runs" / "night" / "summary" / "report.html"
    assert first.stdout.splitlines()[-1] == f"report: {report}"
    assert "run night: 2 seeds, mean test accuracy" in first.stdout
    run = json.loads((tmp_path / "runs" / "night" / "run.json").read_text())
    assert {k: v["status"] for k, v in run["stages"].items()} == {
        s: "complete" for s in ("train", "infer", "summary", "history")
    }
    heartbeat = json.loads((tmp_path / "_last_success.json").read_text())
    assert heartbeat["run_id"] == "night"
    assert not (tmp_path / "_lock.json").exists()
    for seed in (0, 1):
        part = tmp_path / "predictions" / "run_id=night" / f"seed={seed}" / "part-00000.parquet"
        assert pq.read_metadata(part).num_rows == 2_000

    # The driver's story: one format, seed lines from the driver's results in order, a durable copy.
    assert_log_lines_are_stamped_alike(first.stderr)
    assert seed_progress(first.stderr) == [(1, 2), (2, 2), (1, 2), (2, 2)]  # train, then infer
    logs = list((tmp_path / "runs" / "night" / "logs").iterdir())
    assert len(logs) == 1 and logs[0].name.startswith("nightly-")
    durable = logs[0].read_text()
    assert seed_progress(durable) == seed_progress(first.stderr)
    assert all(ISO_LINE.match(line) for line in durable.splitlines())
    assert "run night: 2 seeds, mean test accuracy" in durable

    params = Path(tmp_path / "runs" / "night" / "seeds" / "seed=0" / "model.params").stat().st_mtime_ns
    again = helpers.run_cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing to do" in again.stderr and "nothing to do" in again.stdout  # a finished night
    assert (
        Path(tmp_path / "runs" / "night" / "seeds" / "seed=0" / "model.params").stat().st_mtime_ns == params
    )


def test_nightly_reads_data_from_s3_and_writes_every_output_to_s3(s3_endpoint, small_data_dir):
    import s3fs

    fs = s3fs.S3FileSystem()
    for f in Path(small_data_dir).iterdir():
        fs.put_file(str(f), f"{s3_endpoint.bucket}/data/{f.name}")
    output = s3_endpoint.uri("lenet")
    result = helpers.run_cli(
        "nightly",
        "--output",
        output,
        "--run-id",
        "s3run",
        "--data",
        s3_endpoint.uri("data"),
        "--no-verify",
        "--seeds",
        "0-1",
        "--epochs",
        "1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"report: {output}/runs/s3run/summary/report.html" in result.stdout
    keys = set(fs.find(f"{s3_endpoint.bucket}/lenet"))
    prefix = f"{s3_endpoint.bucket}/lenet"
    for key in (
        "runs/s3run/run.json",
        "runs/s3run/seeds/seed=0/model.params",
        "runs/s3run/seeds/seed=1/metrics.json",
        "predictions/run_id=s3run/seed=1/part-00000.parquet",
        "predictions/run_id=s3run/seed=1/_COMMITTED.json",
        "runs/s3run/summary/summary.json",
        "runs/s3run/summary/report.html",
        "_last_success.json",
    ):
        assert f"{prefix}/{key}" in keys, key
    assert not any("_staging" in k for k in keys) and f"{prefix}/_lock.json" not in keys
    # The driver's log outlives the machine that ran it: read it back from S3.
    logs = sorted(k for k in keys if k.startswith(f"{prefix}/runs/s3run/logs/"))
    assert len(logs) == 1 and logs[0].rsplit("/", 1)[1].startswith("nightly-")
    durable = fs.cat_file(logs[0]).decode()
    assert seed_progress(durable) == [(1, 2), (2, 2), (1, 2), (2, 2)] and "report.html" in durable
    assert "testing" not in fs.cat_file(f"{prefix}/runs/s3run/run.json").decode()

    query = helpers.run_cli(
        "query",
        "SELECT seed, count(*) AS n FROM predictions GROUP BY seed ORDER BY seed",
        "--output",
        output,
        "--json",
    )
    assert query.returncode == 0, query.stderr[-2000:]
    assert [json.loads(line) for line in query.stdout.splitlines()] == [
        {"seed": 0, "n": 2000},
        {"seed": 1, "n": 2000},
    ]
