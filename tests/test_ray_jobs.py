"""The nightly job through the Ray Jobs API of a real two-node cluster on 127.0.0.1 (token auth), and
deploy/nightly.sh as cron runs it: locally, submitted, and refused while another run holds the output."""

import ipaddress
import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.helpers import REPO, VENV_BIN, client_env, job_info, ray_cli, submit
from tests.sealed_helpers import tree_state

pytestmark = pytest.mark.slow

NIGHTLY_SH = REPO / "deploy" / "nightly.sh"
SEEDS = (0, 1)
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "


def nightly_args(output: Path, data: str, run_id: str, epochs: int = 1) -> list[str]:
    # The cluster's own Python by its path: the test cluster's PATH has no venv (helpers.RayCluster).
    return [
        str(VENV_BIN / "python"),
        "-m",
        "jobs.nightly",
        "--output",
        str(output),
        "--data",
        data,
        "--no-verify",
        "--seeds",
        f"{SEEDS[0]}-{SEEDS[-1]}",
        "--epochs",
        str(epochs),
        "--run-id",
        run_id,
    ]


def uploaded_package(cluster, submission_id: str) -> Path:
    """The unpacked working dir the cluster made of a job's upload."""
    uri = job_info(cluster, submission_id).runtime_env["working_dir"]  # gcs://_ray_pkg_<hash>.zip
    name = uri.rsplit("/", 1)[-1].removesuffix(".zip")
    found = list(Path(cluster.temp_dir).glob(f"**/runtime_resources/working_dir_files/{name}"))
    assert found, f"no unpacked {name} under {cluster.temp_dir}"
    return found[0]


def assert_upload_is_small_and_clean(package: Path) -> None:
    names = {p.name for p in package.iterdir()}
    assert {"lenet_batch", "jobs", "pyproject.toml"} <= names
    assert not names & {".venv", ".git", "runs", "tests", "deploy"}, names
    # the pages' templates travel with the package: the job renders report.html and history.html from them
    shipped = {p.name for p in (package / "lenet_batch" / "pages" / "templates").iterdir()}
    assert {"report.html", "report.md", "history.html"} <= shipped, shipped
    size = sum(p.stat().st_size for p in package.rglob("*") if p.is_file())
    assert size < 2_000_000, f"uploaded working dir is {size} bytes"


def assert_complete_run(output: Path, run_id: str) -> None:
    """run.json stages complete; a model per seed; a committed Parquet partition per seed; the summary."""
    run = json.loads((output / "runs" / run_id / "run.json").read_text())
    assert {k: v["status"] for k, v in run["stages"].items()} == dict.fromkeys(
        ("train", "infer", "summary", "history"), "complete"
    )
    for seed in SEEDS:
        seed_dir = output / "runs" / run_id / "seeds" / f"seed={seed}"
        assert (seed_dir / "model.params").stat().st_size > 200_000  # 60,170 float32 parameters
        assert json.loads((seed_dir / "metrics.json").read_text())
        part = output / "predictions" / f"run_id={run_id}" / f"seed={seed}" / "part-00000.parquet"
        table = pq.read_table(part)
        assert table.num_rows == 2000  # the small test split
        assert {"sample_id", "label", "prediction", "correct", "probabilities"} <= set(table.column_names)
    summary = output / "runs" / run_id / "summary"
    for name in ("summary.json", "summary.parquet", "per_class.parquet", "report.md", "report.html"):
        assert (summary / name).stat().st_size > 0, name


@pytest.fixture(scope="module")
def first_job(cluster, small_data_dir, tmp_path_factory):
    """The nightly job submitted once through `ray job submit` (shared by the tests that need it)."""
    output = tmp_path_factory.mktemp("jobs-output")
    submission_id = f"lb-test-{uuid.uuid4().hex[:8]}"
    result = submit(cluster, submission_id, *nightly_args(output, small_data_dir, "job-a"))
    return submission_id, output, result


def listening_addresses(pids: list[int]) -> set[str]:
    """Local addresses of the TCP sockets these processes listen on (from /proc)."""
    inodes = set()
    for pid in pids:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        inodes |= {link[8:-1] for link in links if link.startswith("socket:[")}
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                raw = bytes.fromhex(fields[1].split(":")[0])
                host_order = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(str(ipaddress.ip_address(host_order)))
    return found


def test_cluster_has_two_nodes_listening_on_loopback_only(cluster):
    nodes = json.loads(
        ray_cli("list", "nodes", "--address", cluster.dashboard_url, "--format", "json").stdout
    )
    alive = [n for n in nodes if n["state"] == "ALIVE"]
    assert len(alive) == 2 and {n["node_ip"] for n in alive} == {"127.0.0.1"}
    addresses = listening_addresses(cluster.pids())
    assert addresses and addresses <= {"127.0.0.1", "::ffff:7f00:1"}, addresses


def test_submitted_nightly_job_succeeds_with_complete_outputs(cluster, first_job):
    submission_id, output, result = first_job
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"Job '{submission_id}' succeeded" in result.stderr + result.stdout
    info = job_info(cluster, submission_id)
    assert (info.status.value, info.driver_exit_code) == ("SUCCEEDED", 0)
    assert_complete_run(output, "job-a")
    assert json.loads((output / "_last_success.json").read_text())["run_id"] == "job-a"
    assert_upload_is_small_and_clean(uploaded_package(cluster, submission_id))


def test_failed_job_makes_ray_job_submit_exit_1_and_keeps_the_real_code(cluster, tmp_path):
    submission_id = f"lb-fail-{uuid.uuid4().hex[:8]}"
    result = submit(cluster, submission_id, *nightly_args(tmp_path, "/nonexistent", "job-c"))
    # The CLI says only "failed" (exit 1); the entrypoint's own code (2: bad input) is in the job record.
    assert result.returncode == 1
    assert f"Job '{submission_id}' failed" in result.stderr + result.stdout
    info = job_info(cluster, submission_id)
    assert (info.status.value, info.driver_exit_code) == ("FAILED", 2)
    assert "exit code 2" in info.message
    assert not (tmp_path / "_last_success.json").exists()


def write_env_file(path: Path, **values: str) -> Path:
    """An env file for nightly.sh; the Ray token is the tests' own, never the user's ~/.ray/auth_token."""
    values = {"RAY_AUTH_TOKEN_PATH": os.environ["RAY_AUTH_TOKEN_PATH"], **values}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return path


def start(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """A background process writing to a file (no pipe to fill up while we wait on another)."""
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    process.log = log
    return process


def nightly_sh(env_file: Path, log: Path, **env: str) -> subprocess.Popen:
    """deploy/nightly.sh under `env -i` (cron's empty environment) with just an env file."""
    return start(["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(NIGHTLY_SH), str(env_file)], log)


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    process.wait(timeout=timeout)
    return process.returncode, process.log.read_text()


def test_nightly_sh_runs_locally_under_env_i(tmp_path, small_data_dir):
    output = tmp_path / "out"
    env_file = write_env_file(
        tmp_path / "nightly.env",
        LENET_BATCH_OUTPUT=str(output),
        LENET_BATCH_SEEDS="0-1",
        LENET_BATCH_EPOCHS="1",
        LENET_BATCH_DATA=small_data_dir,
        LENET_BATCH_VERIFY_DATA="false",
        LENET_BATCH_RUN_ID="local-1",
    )
    code, out = finish(nightly_sh(env_file, tmp_path / "nightly.log"))
    assert code == 0, out[-4000:]
    assert "running locally" in out
    assert_complete_run(output, "local-1")
    assert json.loads((output / "_last_success.json").read_text())["run_id"] == "local-1"
    # cron again on the finished night: nothing to do, nothing written
    state = tree_state(output)
    code, out = finish(nightly_sh(env_file, tmp_path / "again.log"))
    assert code == 0 and "nothing to do: run local-1 is complete" in out, out[-4000:]
    assert tree_state(output) == state


def lock_holder(lock: Path, first: subprocess.Popen, timeout: float = 120) -> int:
    """The pid of the job driver that holds the lock (it runs on this machine's test cluster)."""
    deadline = time.time() + timeout
    while True:
        assert first.poll() is None and time.time() < deadline, "the first run never took the lock"
        try:
            pid = json.loads(lock.read_text())["pid"]
            break
        except (OSError, ValueError, KeyError):  # not there yet, or created but not yet written
            time.sleep(0.1)
    assert "jobs.nightly" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    return pid


def test_nightly_sh_submits_and_a_second_run_on_the_same_output_is_refused(cluster, tmp_path, small_data_dir):
    output = tmp_path / "out"
    env_file = write_env_file(
        tmp_path / "nightly.env",
        LENET_BATCH_OUTPUT=str(output),
        LENET_BATCH_SEEDS="0-1",
        LENET_BATCH_EPOCHS="2",
        LENET_BATCH_DATA=small_data_dir,
        LENET_BATCH_NO_VERIFY="1",  # the flag's name (--no-verify), through the job's runtime env
        LENET_BATCH_RUN_ID="night-1",
        RAY_ADDRESS=cluster.dashboard_url,
    )
    first = nightly_sh(env_file, tmp_path / "first.log")
    holder = lock_holder(output / "_lock.json", first)
    # Freeze the first run's driver while it holds the lock, so that the others (the other night's Ray
    # job takes ~10 s to start) meet the lock whatever the machine's speed; then let it finish.
    os.kill(holder, signal.SIGSTOP)
    try:
        other_night = nightly_sh(env_file, tmp_path / "other.log", LENET_BATCH_RUN_ID="night-2")
        local = start(
            [
                str(VENV_BIN / "lenet-batch"),
                "nightly",
                "--output",
                str(output),
                "--run-id",
                "night-3",
                "--data",
                small_data_dir,
                "--no-verify",
                "--seeds",
                "0",
                "--epochs",
                "1",
            ],
            tmp_path / "local.log",
            env=client_env(),
        )
        same_night = nightly_sh(env_file, tmp_path / "same.log")
        runs = [("same", same_night), ("other", other_night), ("local", local)]
        refused = {name: finish(p) for name, p in runs}
        while_frozen = (tmp_path / "first.log").read_text()
    finally:
        os.kill(holder, signal.SIGCONT)
    code, out = finish(first)
    assert code == 0, out[-4000:]
    # The job's lines reach the cron log as they happen (here: before the job could end), each with a UTC
    # time; the job ran the cluster's Python by its path (the cluster's PATH has no venv).
    entry = f"Running entrypoint for job lenet-nightly-night-1: {VENV_BIN / 'python'} -m jobs.nightly"
    assert re.search(rf"^{STAMP}{re.escape(entry)}", while_frozen, re.M), while_frozen[-3000:]
    epochs = re.findall(rf"^{STAMP}INFO seed (\d) epoch (\d)/2 loss ", out, re.M)
    assert sorted(epochs) == [(s, e) for s in "01" for e in "12"], out[-4000:]
    assert len(re.findall(r"seed \d epoch \d/2 loss ", out)) == 4  # each once, none forwarded twice
    # The cron log: no colour codes, none of Ray's submission notes, and one line of ours for the submission.
    assert "\x1b[" not in out
    for note in ("is now ignored", "Ignoring upload", "Uploading package", "Next steps", "ray job logs"):
        assert note not in out, note
    submitted = f"nightly.sh: job lenet-nightly-night-1 submitted (working dir {REPO}): "
    assert re.search(rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ {re.escape(submitted)}", out, re.M), out[:3000]
    for name, (rc, text) in refused.items():
        assert rc == 5, f"{name}: exit {rc}\n{text[-3000:]}"
    assert "lenet-nightly-night-1 is already running" in refused["same"][1]  # refused before submitting
    assert "is held by run night-1" in refused["other"][1]  # refused by the lock inside the Ray job
    assert "is held by run night-1" in refused["local"][1]
    other = job_info(cluster, "lenet-nightly-night-2")  # the Ray job failed with the entrypoint's code
    assert (other.status.value, other.driver_exit_code) == ("FAILED", 5)

    info = job_info(cluster, "lenet-nightly-night-1")
    assert (info.status.value, info.driver_exit_code) == ("SUCCEEDED", 0)
    assert info.metadata["run_id"] == "night-1"
    assert info.runtime_env["env_vars"]["LENET_BATCH_EPOCHS"] == "2"  # settings reach the job
    assert_complete_run(output, "night-1")
    assert not (output / "_lock.json").exists()
    assert json.loads((output / "_last_success.json").read_text())["run_id"] == "night-1"
    assert_upload_is_small_and_clean(uploaded_package(cluster, "lenet-nightly-night-1"))
    # A night that already succeeded is not submitted again.
    code, out = finish(nightly_sh(env_file, tmp_path / "again.log"))
    assert code == 0 and "already succeeded; nothing to do" in out
    # Submitted all the same (another submission id), the job finds the finished night: nothing written.
    state = tree_state(output)
    resubmit = nightly_sh(env_file, tmp_path / "resubmit.log", LENET_BATCH_SUBMISSION_ID="night-1-again")
    code, out = finish(resubmit)
    assert code == 0 and "nothing to do: run night-1 is complete" in out, out[-4000:]
    assert tree_state(output) == state
