"""Test helpers: writing IDX data sets, running the CLI, and a Ray cluster on loopback we start and stop."""

import gzip
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lenet_batch.data import idx
from lenet_batch.data.fashion_mnist import FILES

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Variables of the developer's shell (or of CI, or of a Ray job) that change what lenet-batch does: where it
# writes and reads, which cluster it joins, which S3 it talks to, which instruction set oneDNN uses and
# whether it prints its verbose lines. No test inherits them (conftest.hermetic); a test sets its own.
ISOLATED_PREFIXES = ("LENET_BATCH_", "AWS_", "RAY_JOB_", "DNNL_", "MKLDNN_", "ONEDNN_")
ISOLATED_NAMES = ("RAY_ADDRESS", "XDG_CACHE_HOME", "BOTO_CONFIG")


def isolated(name: str) -> bool:
    """True for a variable that no test inherits from the environment pytest was started in."""
    return name.startswith(ISOLATED_PREFIXES) or name in ISOLATED_NAMES


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write a uint8 array as an IDX file (.gz when compress)."""
    data = idx.encode_idx(array)
    path.write_bytes(gzip.compress(data, compresslevel=1) if compress else data)
    return path


def write_dataset(folder: Path, dataset, n_train: int, n_test: int) -> None:
    """Write the first n_train / n_test images and labels of a dataset in Fashion-MNIST's file names."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": dataset.train_images[:n_train],
        "train_labels": dataset.train_labels[:n_train],
        "test_images": dataset.test_images[:n_test],
        "test_labels": dataset.test_labels[:n_test],
    }
    for key, stem in FILES.items():
        write_idx(folder / (stem + ".gz"), arrays[key])


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_job_module():
    """deploy/ray_job.py (nightly.sh's Jobs API helper) loaded as a module."""
    spec = importlib.util.spec_from_file_location("deploy_ray_job", REPO / "deploy" / "ray_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 600, cwd: str | Path | None = None
) -> subprocess.CompletedProcess:
    """Run `lenet-batch ARGS` in a subprocess, in `cwd` (default: the test's own working directory)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(VENV_BIN / "lenet-batch"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )


# `ray start` maps --node-ip-address 127.0.0.1 to the host's address unless Ray treats the host as
# single-node (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0), which in turn refuses `ray start --address`. A
# second node on 127.0.0.1 therefore starts through this shim: the check passes, the address stays.
WORKER_SHIM = """
import sys
import ray._private.ray_constants as constants
import ray._private.services as services
constants.ENABLE_RAY_CLUSTER = True
services.resolve_ip_for_localhost = lambda host: host
from ray.scripts.scripts import main
sys.argv = ["ray", *sys.argv[1:]]
main()
"""


class RayCluster:
    """A Ray cluster on 127.0.0.1 under a temp dir of its own, so that we stop only what we started."""

    def __init__(self, num_cpus: int = 2, num_gpus: int = 0) -> None:
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        # Ray puts sockets under the temp dir: keep the path short.
        self.temp_dir = tempfile.mkdtemp(prefix="lbray-", dir="/tmp")
        self.port = free_port()
        self.dashboard_port = free_port()
        self.client_port = free_port()  # the Ray Client server's (ray://)
        self.address = f"127.0.0.1:{self.port}"
        self.dashboard_url = f"http://127.0.0.1:{self.dashboard_port}"

    def env(self) -> dict[str, str]:
        """Environment of the cluster's processes: token auth, loopback only, and the venv NOT on PATH.

        A head started by the venv's `ray` whose PATH lacks the venv is what a real node may be: a job's
        entrypoint must name the cluster's Python itself (deploy/nightly.sh does), not rely on `python`.
        """
        path = os.pathsep.join(
            p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if Path(p) != VENV_BIN
        )
        return {
            **{k: v for k, v in os.environ.items() if not isolated(k)},
            "RAY_AUTH_MODE": "token",
            "PATH": path,
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        }

    def _ray(self, *args: str) -> None:
        subprocess.run(
            [str(VENV_BIN / "ray"), *args], check=True, env=self.env(), capture_output=True, timeout=180
        )

    def start_head(self) -> None:
        """Start the head node: GCS, dashboard and Jobs API on loopback only."""
        # Free ports for the agent's HTTP server and the client server: their defaults (52365, 10001)
        # collide with other Ray instances on a shared machine ("No available agent to submit job").
        self._ray(
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(self.dashboard_port),
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--ray-client-server-port",
            str(self.client_port),
            "--num-cpus",
            str(self.num_cpus),
            "--num-gpus",
            str(self.num_gpus),
            "--temp-dir",
            self.temp_dir,
            "--disable-usage-stats",
            "--include-dashboard",
            "true",
        )

    def add_worker(self, num_cpus: int = 1) -> None:
        """Start a second node (its own raylet and temp dir) joining the head, also on 127.0.0.1."""
        # A temp dir of its own: nodes sharing one unpack the same job's working_dir into the same
        # folder, and one node's unpacking races the other's imports (ModuleNotFoundError in the job).
        subprocess.run(
            [
                str(VENV_BIN / "python"),
                "-c",
                WORKER_SHIM,
                "start",
                "--address",
                self.address,
                "--node-ip-address",
                "127.0.0.1",
                "--num-cpus",
                str(num_cpus),
                "--dashboard-agent-listen-port",
                str(free_port()),
                "--temp-dir",
                f"{self.temp_dir}/w",
                "--disable-usage-stats",
            ],
            check=True,
            env=self.env(),
            capture_output=True,
            timeout=180,
        )

    def pids(self) -> list[int]:
        """Processes of this cluster: those whose command line names its temp dir or its GCS address."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                cmdline = (
                    Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
            except OSError:
                continue
            if self.temp_dir in cmdline or f"127.0.0.1:{self.port}" in cmdline:
                found.append(int(entry))
        return found

    def stop(self) -> None:
        """SIGTERM then SIGKILL every process of this cluster (never other Ray instances)."""
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + wait
            while self.pids() and time.time() < deadline:
                time.sleep(0.2)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


# --- the Ray Jobs API of a test cluster ----------------------------------------------------------------


def client_env(**extra: str) -> dict[str, str]:
    """The test's environment with token auth on (as conftest sets it), plus extra."""
    return {**os.environ, "RAY_AUTH_MODE": "token", **extra}


def ray_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The `ray` CLI of the venv, run from the repo."""
    return subprocess.run(
        [str(VENV_BIN / "ray"), *args],
        capture_output=True,
        text=True,
        env=env or client_env(),
        cwd=REPO,
        timeout=timeout,
    )


def submit(cluster, submission_id: str, *entrypoint: str, env=None) -> subprocess.CompletedProcess:
    """`ray job submit` of the repo as working dir, with nightly.sh's excludes; waits for the job."""
    runtime_env = json.dumps({"excludes": ray_job_module().EXCLUDES})
    return ray_cli(
        *("job", "submit", "--address", cluster.dashboard_url, "--submission-id", submission_id),
        *("--working-dir", str(REPO), "--runtime-env-json", runtime_env, "--", *entrypoint),
        env=env,
    )


def job_info(cluster, submission_id: str):
    """The Jobs API's record of a job."""
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(cluster.dashboard_url).get_job_info(submission_id)


def job_exists(cluster, submission_id: str) -> bool:
    """True when the cluster knows a job with this submission id."""
    from ray.job_submission import JobSubmissionClient

    jobs = JobSubmissionClient(cluster.dashboard_url).list_jobs()
    return any(j.submission_id == submission_id for j in jobs)


def score_seed(run, seed: int, source, **kwargs):
    """scoring.seed.score_seed with the seed's metrics.json as the run's state reads it (as the infer stage
    hands it over)."""
    from lenet_batch.scoring.seed import score_seed as score
    from lenet_batch.state.run_state import read_state

    return score(run, seed, source, metrics=read_state(run).seed(seed).metrics, **kwargs)


def previous_run(run) -> tuple[str | None, str]:
    """The default baseline of a run as the summary stage finds it: its id (None: none) and why."""
    from lenet_batch.state.run_state import read_state
    from lenet_batch.summary.baseline import previous

    found = previous(read_state(run))
    return found.run_id, found.reason


def stage_status(night: dict, stage: str) -> str | None:
    """A stage's status in a night as `runs --json` and `check --json` give it (None: not recorded)."""
    return next((s["status"] for s in night["stages"] if s["stage"] == stage), None)
