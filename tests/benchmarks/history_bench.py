"""`make bench` section "history": synthetic nights to list and report on, locally and on S3 (moto).

    python -m tests.benchmarks.history_bench generate '{"output": DIR, "runs": 1000, "seeds": 8}'
    python -m tests.benchmarks.history_bench s3 '{"runs": 1000, "seeds": 8}'

Each prints one JSON line. `s3` starts moto's server in a process of its own (a server in this process
would share the GIL with the reads it serves), writes the nights there, and times reading every run's
records one at a time against READ_MANY_BATCH at a time, then `build_history` on S3.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.benchmarks.procs import process_cpu_seconds
from tests.helpers import free_port
from tests.history_helpers import write_synthetic_runs

MOTO = Path(sys.executable).with_name("moto_server")


def generate(params: dict) -> dict[str, Any]:
    """Write the synthetic nights (one in 20 regressed, one in 50 failed) under params["output"]."""
    started = time.perf_counter()
    write_synthetic_runs(params["output"], params["runs"], params["seeds"], kinds(params["runs"]))
    return {"runs": params["runs"], "seeds": params["seeds"], "seconds": time.perf_counter() - started}


def kinds(n: int) -> dict[int, str]:
    """Which synthetic nights regressed or failed."""
    return {k: "regressed" for k in range(7, n, 20)} | {k: "failed" for k in range(13, n, 50)}


def _timed(fn: Any) -> tuple[Any, float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - started, time.process_time() - cpu


def _moto_env(url: str) -> None:
    """Fake credentials and the local endpoint, for s3fs in this process."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=url,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        NO_PROXY="127.0.0.1",
    )


def _wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        try:
            opener.open(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _s3_reads(output: str, n: int, server_pid: int) -> dict[str, Any]:
    """Read every run's records one at a time, then READ_MANY_BATCH at a time; then build the history.

    The server's CPU seconds are recorded beside each: moto answers in one Python process, so a wall time
    close to its CPU time means the server, not the client, set the pace.
    """
    import s3fs

    from lenet_batch.store import storage
    from lenet_batch.store.layout import Layout
    from lenet_batch.summary import history_stage, runs_index

    out, default = {}, storage.READ_MANY_BATCH
    for batch in (1, default):
        storage.READ_MANY_BATCH = batch
        s3fs.S3FileSystem.clear_instance_cache()
        server_before = process_cpu_seconds(server_pid)
        runs, wall, cpu = _timed(lambda: runs_index.read_records(Layout(output)))
        assert len(runs) == n
        server = process_cpu_seconds(server_pid) - server_before
        out[f"read_batch_{batch}"] = {"wall_seconds": wall, "cpu_seconds": cpu, "server_cpu_seconds": server}
    server_before = process_cpu_seconds(server_pid)
    _, wall, cpu = _timed(lambda: history_stage.build_history(Layout(output)))
    server = process_cpu_seconds(server_pid) - server_before
    out["history"] = {"wall_seconds": wall, "cpu_seconds": cpu, "server_cpu_seconds": server}
    return {**out, "batch": default}


def s3(params: dict) -> dict[str, Any]:
    """The nights on a local moto S3: write them, time the reads and the history."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(f"{url}/moto-api/")
        _moto_env(url)
        import boto3

        boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket="bench")
        output = "s3://bench/lenet"
        _, write_seconds, _ = _timed(
            lambda: write_synthetic_runs(output, params["runs"], params["seeds"], kinds(params["runs"]))
        )
        reads = _s3_reads(output, params["runs"], server.pid)
        return {"runs": params["runs"], "write_seconds": write_seconds, **reads}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str]) -> int:
    """Run one step; its JSON result is the last line on stdout."""
    kind, params = argv[0], json.loads(argv[1])
    result = {"generate": generate, "s3": s3}[kind](params)
    print(json.dumps({"kind": kind, "params": params, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
