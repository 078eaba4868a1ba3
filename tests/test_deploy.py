"""deploy/: manifests parse and name what exists, the GPU type gets the CUDA build, cron, nightly.sh."""

import asyncio
import configparser
import copy
import grp
import io
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import threading
import tomllib
from pathlib import Path

import pytest
import yaml

from lenet_batch.cli import build_parser
from tests.helpers import REPO, VENV_BIN, free_port, ray_job_module

DEPLOY = REPO / "deploy"
NIGHTLY_SH = DEPLOY / "nightly.sh"
MANIFESTS = ["ray-cluster.yaml", "rayjob.yaml", "raycronjob.yaml"]


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def pinned(name: str) -> str:
    """The requirement of pyproject.toml pinning a distribution, e.g. 'mxnet==1.9.1'."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d.split("#")[0].strip() for d in deps if d.split("[")[0].split("=")[0] == name)


def mxnet_pin() -> str:
    return pinned("mxnet")


def kuberay_job_specs() -> dict[str, dict]:
    return {
        "rayjob.yaml": load("rayjob.yaml")["spec"],
        "raycronjob.yaml": load("raycronjob.yaml")["spec"]["jobTemplate"],
    }


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_parses_as_one_yaml_mapping(name):
    docs = list(yaml.safe_load_all((DEPLOY / name).read_text()))
    assert len(docs) == 1 and isinstance(docs[0], dict)


def test_cluster_config_passes_rays_own_validation():
    from ray.autoscaler._private.util import fillout_defaults, validate_config

    config = load("ray-cluster.yaml")
    validate_config(config)
    validate_config(fillout_defaults(copy.deepcopy(config)))
    assert config["provider"]["type"] == "aws"
    assert config["head_node_type"] in config["available_node_types"]


def test_node_types_declare_cpu_and_gpu_resources():
    types = load("ray-cluster.yaml")["available_node_types"]
    assert types["head"]["resources"] == {"CPU": 0}  # seeds never land on the head
    assert types["cpu_worker"]["resources"]["CPU"] > 0 and "GPU" not in types["cpu_worker"]["resources"]
    assert types["gpu_worker"]["resources"]["GPU"] >= 1 and types["gpu_worker"]["resources"]["CPU"] > 0
    for name in ("cpu_worker", "gpu_worker"):
        assert types[name]["min_workers"] == 0 and types[name]["max_workers"] >= 1


def test_gpu_worker_installs_the_cuda_build_of_the_same_mxnet_version():
    config = load("ray-cluster.yaml")
    version = mxnet_pin().split("==")[1]
    gpu = config["available_node_types"]["gpu_worker"]["worker_setup_commands"]
    text = "\n".join(gpu)
    assert f"mxnet-cu112=={version}" in text
    uninstall = next(i for i, c in enumerate(gpu) if re.search(r"pip uninstall .*\bmxnet\b", c))
    install_cuda = next(i for i, c in enumerate(gpu) if "mxnet-cu112" in c)
    install_project = next(i for i, c in enumerate(gpu) if "-e ~/lenet-batch" in c)
    assert install_project < uninstall < install_cuda
    assert "constraints.txt" in gpu[install_cuda]  # numpy etc. stay pinned
    assert "num_gpus()" in gpu[-1]  # setup fails on a node where MXNet sees no GPU
    # Head and CPU workers keep the CPU build pinned by constraints.txt.
    assert f"{mxnet_pin()}\n" in (REPO / "constraints.txt").read_text()
    assert "mxnet-cu" not in "\n".join(config["setup_commands"] + config["worker_setup_commands"])


def test_every_node_installs_the_project_with_the_pinned_constraints():
    config = load("ray-cluster.yaml")
    assert config["file_mounts"]["~/lenet-batch"] == "."
    for commands in (
        config["setup_commands"],
        config["available_node_types"]["gpu_worker"]["worker_setup_commands"],
    ):
        assert any(
            "pip install" in c and "-c ~/lenet-batch/constraints.txt -e ~/lenet-batch" in c for c in commands
        )
        assert any("--python 3.11" in c for c in commands)  # one Python minor version on every node
    excluded = set(config["rsync_exclude"])
    assert {"**/.git", "**/.venv", "runs", "deploy/*.env"} <= excluded


def test_cluster_runs_ray_with_token_auth_and_a_loopback_dashboard():
    config = load("ray-cluster.yaml")
    head = " ".join(config["head_start_ray_commands"])
    worker = " ".join(config["worker_start_ray_commands"])
    assert "RAY_AUTH_MODE=token" in head and "RAY_AUTH_MODE=token" in worker
    assert "--dashboard-host=127.0.0.1" in head
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


@pytest.mark.parametrize("name", ["rayjob.yaml", "raycronjob.yaml"])
def test_kuberay_entrypoint_is_the_nightly_job_with_valid_flags(name):
    spec = kuberay_job_specs()[name]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:3] == ["python", "-m", "jobs.nightly"]
    assert (REPO / "jobs" / "nightly.py").is_file()
    args = build_parser().parse_args(["nightly", *argv[3:]])  # exits (fails the test) on an unknown flag
    assert args.output.startswith("s3://")
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["env_vars"]["PYTHONPATH"] == "/home/ray/lenet-batch"
    assert all(isinstance(v, str) for v in runtime_env["env_vars"].values())  # Ray wants strings


def test_kuberay_cluster_uses_token_auth_and_a_gpu_group():
    for name, spec in kuberay_job_specs().items():
        cluster = spec["rayClusterSpec"]
        assert cluster["authOptions"]["mode"] == "token", name
        assert cluster["rayVersion"] == pinned("ray").split("==")[1], name
        groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
        gpu = groups["gpu"]["template"]["spec"]["containers"][0]
        assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1 and "cu112" in gpu["image"], name
        assert spec["shutdownAfterJobFinishes"] is True and spec["backoffLimit"] == 0, name


def test_raycronjob_runs_the_same_job_as_rayjob_every_night():
    cron = load("raycronjob.yaml")
    assert (cron["apiVersion"], cron["kind"]) == ("ray.io/v1", "RayCronJob")
    assert load("rayjob.yaml")["kind"] == "RayJob"
    specs = kuberay_job_specs()
    assert specs["raycronjob.yaml"] == specs["rayjob.yaml"]
    minute, hour, dom, month, dow = cron["spec"]["schedule"].split()
    assert minute.isdigit() and hour.isdigit() and (dom, month, dow) == ("*", "*", "*")
    assert cron["spec"]["suspend"] is False


def cron_command() -> list[str]:
    """The words of deploy/crontab's one job, after its five schedule fields (checked here)."""
    lines = [
        ln for ln in (DEPLOY / "crontab").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert "CRON_TZ=UTC" in lines
    jobs = [ln for ln in lines if not re.match(r"^[A-Z_]+=", ln)]
    assert len(jobs) == 1
    assert "%" not in jobs[0]  # cron would turn it into a newline
    fields = jobs[0].split()
    assert fields[:5] == ["0", "2", "*", "*", "*"]
    return fields[5:]


def test_crontab_runs_nightly_sh_under_flock_in_utc_with_a_log():
    command = cron_command()
    assert command[:5] == ["flock", "-n", "-E", "5", "/var/lock/lenet-batch.lock"]
    assert command[5].endswith("/deploy/nightly.sh") and command[6].endswith(".env")  # env file path
    assert command[7].startswith(">>/var/log/") and command[8] == "2>&1"


def test_crontab_prints_only_when_a_night_fails_so_cron_mails_only_then(tmp_path):
    command = cron_command()
    log = command[7].removeprefix(">>")
    assert command[9:] == ["||", "tail", "-n", "40", log]
    # The entry as bash runs it, its night replaced by one that fails or succeeds.
    for night, printed in (("exit 4", "night failed\n"), ("exit 0", "")):
        script = tmp_path / "night.sh"
        script.write_text(f"#!/bin/bash\necho night failed\n{night}\n")
        script.chmod(0o755)
        entry = [
            str(script),
            f">>{tmp_path / 'n.log'}",
            "2>&1",
            "||",
            "tail",
            "-n",
            "40",
            str(tmp_path / "n.log"),
        ]
        (tmp_path / "n.log").unlink(missing_ok=True)
        done = subprocess.run(["bash", "-c", " ".join(entry)], capture_output=True, text=True)
        assert done.stdout == printed and done.stderr == ""


def test_logrotate_rotates_the_crontabs_log_and_leaves_creating_it_to_cron(tmp_path):
    text = (DEPLOY / "logrotate").read_text()
    log = cron_command()[7].removeprefix(">>")
    assert re.search(rf"^{re.escape(log)} \{{$", text, re.M)
    directives = {ln.split()[0] for ln in text.splitlines() if ln.startswith("    ")}
    assert {"nocreate", "missingok", "compress", "rotate"} <= directives and "copytruncate" not in directives
    if shutil.which("logrotate") is None:
        pytest.skip("logrotate is not installed (Debian package logrotate)")
    (tmp_path / "nightly.log").write_text("a night\n" * 10)
    config = tmp_path / "lenet-batch"
    config.write_text(text.replace(log, str(tmp_path / "nightly.log")))
    config.chmod(0o644)
    args = ["logrotate", "--state", str(tmp_path / "state")]
    done = subprocess.run([*args, "--debug", str(config)], capture_output=True, text=True)
    assert done.returncode == 0 and "error" not in done.stderr.lower(), done.stderr
    done = subprocess.run([*args, "--force", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "nightly.log.1").read_text() == "a night\n" * 10  # delaycompress: .1 stays plain
    assert not (tmp_path / "nightly.log").exists()  # nocreate: the next night's `>>` makes it


UNITS = ["lenet-batch-nightly.service", "lenet-batch-nightly.timer"]


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text())
    return parser


def test_the_timer_runs_the_service_at_two_utc_and_catches_up_after_downtime():
    timer, service = unit(UNITS[1])["Timer"], unit(UNITS[0])["Service"]
    assert timer["OnCalendar"] == "*-*-* 02:00:00 UTC" and timer["Persistent"] == "true"
    assert timer["Unit"] == UNITS[0] and unit(UNITS[1])["Install"]["WantedBy"] == "timers.target"
    assert service["Type"] == "oneshot"
    # The crontab's command (lock, script, env file), without its log: the journal keeps it.
    words = shlex.split(service["ExecStart"])
    assert words[0] == "/usr/bin/flock" and words[1:] == cron_command()[1:7]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian package systemd)",
)
def test_systemd_analyze_verifies_the_units_as_installed_from_this_checkout(tmp_path):
    user = pwd.getpwuid(os.getuid())
    group = grp.getgrgid(os.getgid()).gr_name
    for name in UNITS:  # the checkout in place of /opt/lenet-batch, this user in place of lenet
        text = (DEPLOY / name).read_text().replace("/opt/lenet-batch", str(REPO))
        text = text.replace("User=lenet", f"User={user.pw_name}").replace("Group=lenet", f"Group={group}")
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNITS)], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr
    calendar = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=2", unit(UNITS[1])["Timer"]["OnCalendar"]],
        capture_output=True,
        text=True,
    )
    elapses = re.findall(r"(?:Next elapse|Iter\. #2): \w+ (\S+) (\S+) UTC", calendar.stdout)
    assert [time for _, time in elapses] == ["02:00:00", "02:00:00"], calendar.stdout


def test_nightly_sh_is_strict_executable_bash():
    text = NIGHTLY_SH.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    assert NIGHTLY_SH.stat().st_mode & stat.S_IXUSR
    subprocess.run(["bash", "-n", str(NIGHTLY_SH)], check=True)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", "-x", str(NIGHTLY_SH)], check=True)


def run_nightly_sh(tmp_path: Path, lines: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """nightly.sh with an env file, in an empty environment (as cron gives it) plus `env`."""
    env_file = tmp_path / "nightly.env"
    env_file.write_text("\n".join(lines) + "\n")
    return subprocess.run(
        [str(NIGHTLY_SH), str(env_file)], env=env or {}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "lines, message",
    [
        (["LENET_BATCH_SEEDS=0-1"], "LENET_BATCH_OUTPUT is not set"),
        (["LENET_BATCH_OUTPUT=/tmp/x", "this is not a setting"], "not KEY=VALUE"),
        (["LENET_BATCH_OUTPUT=/tmp/x", 'LENET_BATCH_VENV="/no where"'], "no Python at /no where/bin/python"),
        (["LENET_BATCH_OUTPUT=/tmp/x", "RAY_ADDRESS=127.0.0.1:6379"], "needs the dashboard URL"),
        (["LENET_BATCH_OUTPUT=/tmp/x", 'LENET_BATCH_RUN_ID=a"b'], 'LENET_BATCH_RUN_ID=a"b: use letters'),
    ],
)
def test_nightly_sh_rejects_bad_settings_with_exit_2(tmp_path, lines, message):
    result = run_nightly_sh(tmp_path, ["# comment", "", *lines])
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


URI_OR_ABSOLUTE = "give an absolute path or a URI such as s3://bucket/prefix, not a relative path"
ABSOLUTE = "give an absolute path, not a relative one"


@pytest.mark.parametrize(
    "setting, message",
    [
        ("LENET_BATCH_OUTPUT=relout", URI_OR_ABSOLUTE),
        ("LENET_BATCH_OUTPUT=./relout", URI_OR_ABSOLUTE),
        ("LENET_BATCH_OUTPUT=~/relout", URI_OR_ABSOLUTE),  # no shell expansion in the env file
        ("LENET_BATCH_OUTPUT=file://relout", URI_OR_ABSOLUTE),
        ("LENET_BATCH_DATA=relout/fashion-mnist", URI_OR_ABSOLUTE),
        ("LENET_BATCH_METRICS_FILE=relout/lenet_batch.prom", ABSOLUTE),
        ("LENET_BATCH_VENV=relout/.venv", ABSOLUTE),
        ("RAY_AUTH_TOKEN_PATH=relout/token", ABSOLUTE),
    ],
)
def test_nightly_sh_refuses_a_relative_path_in_one_line_writing_nothing(tmp_path, setting, message):
    name, value = setting.split("=", 1)
    # Were it taken, the night would meet an unreachable cluster at once (nothing trained, nothing written).
    settings = {
        "LENET_BATCH_OUTPUT": str(tmp_path / "out"),
        "LENET_BATCH_VENV": str(VENV_BIN.parent),
        "RAY_ADDRESS": f"http://127.0.0.1:{free_port()}",
        name: value,
    }
    result = run_nightly_sh(tmp_path, [f"{k}={v}" for k, v in settings.items()])
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.endswith(f"nightly.sh: error: {setting}: {message}"), line
    assert not (REPO / "relout").exists() and not (tmp_path / "relout").exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("output", ["s3://bucket/lenet", "file:///srv/lenet", "/srv/lenet", "gs://b/p"])
def test_nightly_sh_takes_absolute_paths_and_uris(tmp_path, output):
    # Past the path checks, the (unreachable) cluster is the next thing it meets.
    lines = [f"LENET_BATCH_OUTPUT={output}", f"LENET_BATCH_VENV={VENV_BIN.parent}"]
    lines.append(f"RAY_ADDRESS=http://127.0.0.1:{free_port()}")
    result = run_nightly_sh(tmp_path, lines)
    assert result.returncode == 2 and "cannot use the Ray Jobs API" in result.stderr, result.stderr


def test_nightly_sh_missing_env_file_is_exit_2(tmp_path):
    result = subprocess.run(
        [str(NIGHTLY_SH), str(tmp_path / "absent.env")], env={}, capture_output=True, text=True
    )
    assert result.returncode == 2 and "absent.env not found" in result.stderr


def test_nightly_sh_environment_wins_over_the_env_file(tmp_path):
    lines = ["LENET_BATCH_OUTPUT=/tmp/x", "LENET_BATCH_VENV=/from/file"]
    result = run_nightly_sh(tmp_path, lines, env={"LENET_BATCH_VENV": "/from/env"})
    assert result.returncode == 2 and "no Python at /from/env/bin/python" in result.stderr


def test_nightly_sh_unreachable_cluster_is_exit_2(tmp_path):
    lines = ["LENET_BATCH_OUTPUT=/tmp/x", f"RAY_ADDRESS=http://127.0.0.1:{free_port()}"]
    result = run_nightly_sh(tmp_path, lines)
    assert result.returncode == 2, result.stderr
    assert "cannot use the Ray Jobs API" in result.stderr


def test_runtime_env_excludes_heavy_and_secret_files_and_forwards_settings(monkeypatch):
    ray_job = ray_job_module()
    for key in [k for k in os.environ if k.startswith(("LENET_BATCH_", "AWS_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LENET_BATCH_OUTPUT", "s3://bucket/x")
    monkeypatch.setenv("LENET_BATCH_VENV", str(REPO / "venv-gpu"))
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-the-job")
    env = ray_job.runtime_env(str(REPO), str(REPO / "venv-gpu"))
    assert {".git", ".venv", "/runs/", "/tests/", "*.env", "/venv-gpu/"} <= set(env["excludes"])
    assert env["env_vars"] == {"LENET_BATCH_OUTPUT": "s3://bucket/x", "AWS_REGION": "us-west-2"}
    monkeypatch.setenv("LENET_BATCH_FORWARD_AWS", "1")
    assert (
        ray_job.runtime_env(str(REPO), "/opt/venv")["env_vars"]["AWS_SECRET_ACCESS_KEY"] == "not-for-the-job"
    )


class FakeJobs:
    """A Jobs API client that knows some jobs: submission id -> (status, exit code, metadata).

    A job answers RUNNING to its first `running` status reads; its log streams as `chunks`, and the whole
    log (read once it ended) is the chunks and then `unstreamed`.
    """

    def __init__(self, jobs: dict, chunks: tuple[str, ...] = (), running: int = 0, unstreamed: str = ""):
        self.jobs, self.chunks, self.running, self.unstreamed = jobs, chunks, running, unstreamed
        self.reads = 0

    async def tail_job_logs(self, submission_id):
        for chunk in self.chunks:
            yield chunk

    def get_job_logs(self, submission_id):
        return "".join(self.chunks) + self.unstreamed

    def get_job_info(self, submission_id):
        from types import SimpleNamespace

        from ray.job_submission import JobStatus

        if submission_id not in self.jobs:
            raise RuntimeError(f"Request failed with status code 404: Job {submission_id} does not exist.")
        status, code, metadata = self.jobs[submission_id]
        self.reads += 1
        if self.reads <= self.running:
            status, code = "RUNNING", None
        message = f"Job entrypoint command failed with exit code {code}" if status == "FAILED" else ""
        return SimpleNamespace(
            status=JobStatus(status), driver_exit_code=code, metadata=metadata, message=message
        )


@pytest.fixture
def ray_job(monkeypatch):
    """deploy/ray_job.py, reading a job's status every 10 ms."""
    module = ray_job_module()
    monkeypatch.setattr(module, "POLL_SECONDS", 0.01)
    return module


@pytest.mark.parametrize(
    "status, code, expected",
    [
        ("SUCCEEDED", 0, 0),
        ("FAILED", 3, 3),
        ("FAILED", 4, 4),
        ("FAILED", 5, 5),
        ("FAILED", None, 1),
        ("FAILED", -9, 137),
        ("STOPPED", None, 143),
    ],
)
def test_wait_exits_with_the_entrypoints_own_status(monkeypatch, status, code, expected):
    ray_job = ray_job_module()
    monkeypatch.setattr(
        ray_job, "_client", lambda address: FakeJobs({"j": (status, code, {"submitter": "me"})})
    )
    assert ray_job.wait("http://x", "j", "me") == expected


@pytest.mark.parametrize(
    "jobs, submission_id, exit_code",
    [({}, "j", 1), ({"j": ("SUCCEEDED", 0, {"submitter": "someone else"})}, "j", 5)],
)
def test_wait_refuses_a_job_that_is_missing_or_not_ours(monkeypatch, jobs, submission_id, exit_code):
    ray_job = ray_job_module()
    monkeypatch.setattr(ray_job, "_client", lambda address: FakeJobs(jobs))
    with pytest.raises(SystemExit) as exited:
        ray_job.wait("http://x", submission_id, "me")
    assert exited.value.code == exit_code


@pytest.mark.parametrize(
    "jobs, expected",
    [
        ({}, "submit b"),
        ({"b": ("RUNNING", None, {})}, "running b"),
        ({"b": ("SUCCEEDED", 0, {})}, "succeeded b"),
        ({"b": ("FAILED", 3, {})}, "submit b-attempt2"),
        ({"b": ("STOPPED", None, {}), "b-attempt2": ("FAILED", 2, {})}, "submit b-attempt3"),
        ({"b": ("FAILED", 3, {}), "b-attempt2": ("PENDING", None, {})}, "running b-attempt2"),
    ],
)
def test_pick_id_reuses_nothing_that_ran_and_retries_failed_nights(monkeypatch, jobs, expected):
    ray_job = ray_job_module()
    monkeypatch.setattr(ray_job, "_client", lambda address: FakeJobs(jobs))
    assert ray_job.pick_id("http://x", "b") == expected


def test_wait_streams_the_jobs_lines_as_they_come_each_with_a_utc_time(ray_job, monkeypatch, capsys):
    out = io.StringIO()
    seen_before_next_chunk = []

    class Streaming(FakeJobs):
        async def tail_job_logs(self, submission_id):
            for chunk in self.chunks:
                seen_before_next_chunk.append(out.getvalue())
                yield chunk
            self.running = 0  # the job ends with its last line

    chunks = (
        "Running entrypoint for job j: python -m jobs.nightly\n2026-11-28T02:00:01.234Z INFO seed 0 ep",
        "och 1/2 loss 0.5\n2026-11-28 02:00:02,345\tINFO worker.py:1 -- \x1b[32mStarted\x1b[39m\n",
        "Traceback (most recent call last):",
    )
    jobs = {"j": ("FAILED", 3, {"submitter": "me"})}
    monkeypatch.setattr(ray_job, "_client", lambda address: Streaming(jobs, chunks, running=10**6))
    monkeypatch.setenv("TZ", "UTC")
    assert ray_job.wait("http://x", "j", "me", out) == 3
    lines = out.getvalue().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
    assert re.fullmatch(stamp + "Running entrypoint for job j: python -m jobs.nightly", lines[0])
    assert lines[1] == "2026-11-28T02:00:01.234Z INFO seed 0 epoch 1/2 loss 0.5"  # its own time, kept
    assert lines[2] == "2026-11-28T02:00:02.345Z INFO Started"  # Ray's local time, as UTC, no colours
    assert re.fullmatch(stamp + "Traceback \\(most recent call last\\):", lines[3])
    assert len(lines) == 4  # the end of the whole log repeats nothing the stream brought
    # Each line was written as its chunk arrived, not when the job ended.
    assert seen_before_next_chunk[1].splitlines() == lines[:1]
    assert seen_before_next_chunk[2].splitlines() == lines[:3]
    assert "broke off" not in capsys.readouterr().err


def test_a_broken_log_stream_still_waits_for_the_jobs_own_status(ray_job, monkeypatch, capsys):
    class Broken(FakeJobs):
        async def tail_job_logs(self, submission_id):
            yield "2026-11-28T02:00:01.234Z INFO first line\n"
            raise RuntimeError("Connection closed unexpectedly")

    jobs = {"j": ("SUCCEEDED", 0, {"submitter": "me"})}
    fake = Broken(jobs, ("2026-11-28T02:00:01.234Z INFO first line\n",), running=20)
    monkeypatch.setattr(ray_job, "_client", lambda address: fake)
    out = io.StringIO()
    assert ray_job.wait("http://x", "j", "me", out) == 0
    assert out.getvalue() == "2026-11-28T02:00:01.234Z INFO first line\n"
    assert "log stream of job j broke off (Connection closed unexpectedly)" in capsys.readouterr().err
    assert fake.reads == 21  # the status still decided the end


class OpenStream(FakeJobs):
    """A log stream that stays open after its chunks, as the Jobs API's does for a second or two after
    the job ended (its server polls the status every second)."""

    async def tail_job_logs(self, submission_id):
        for chunk in self.chunks:
            yield chunk
        await asyncio.Event().wait()


def wait_in_thread(ray_job, out) -> int:
    """ray_job.wait in a thread (a wait that never ends fails the test instead of hanging it)."""
    done = {}
    thread = threading.Thread(target=lambda: done.update(code=ray_job.wait("http://x", "j", "me", out)))
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "wait did not end with the job"
    return done["code"]


def test_wait_ends_at_the_first_status_read_that_says_the_job_ended(ray_job, monkeypatch):
    # The stream never ends; the job's last line was written after the stream's last chunk.
    first, last = "2026-11-28T02:00:01.000Z INFO first\n", "2026-11-28T02:00:09.000Z INFO last\n"
    fake = OpenStream({"j": ("FAILED", 4, {"submitter": "me"})}, (first,), running=3, unstreamed=last)
    monkeypatch.setattr(ray_job, "_client", lambda address: fake)
    out = io.StringIO()
    assert wait_in_thread(ray_job, out) == 4
    assert out.getvalue() == first + last  # each line once, in order
    assert fake.reads == 4  # three RUNNING, then the end: no read (or sleep) after it


def test_the_end_of_a_log_that_cannot_be_read_leaves_the_streamed_lines_and_the_status(
    ray_job, monkeypatch, capsys
):
    class NoWholeLog(OpenStream):
        def get_job_logs(self, submission_id):
            raise RuntimeError("Request failed with status code 500")

    partial = "2026-11-28T02:00:01.000Z INFO first\n2026-11-28T02:00:02.000Z INFO sec"
    fake = NoWholeLog({"j": ("SUCCEEDED", 0, {"submitter": "me"})}, (partial,), running=2)
    monkeypatch.setattr(ray_job, "_client", lambda address: fake)
    out = io.StringIO()
    assert wait_in_thread(ray_job, out) == 0
    assert out.getvalue().splitlines() == partial.splitlines()  # the partial line too, as it stands
    assert (
        "could not read the end of job j's log: Request failed with status code 500"
        in capsys.readouterr().err
    )


class Submissions(FakeJobs):
    """A Jobs API client that records submissions (and refuses an id it already has)."""

    def __init__(self, jobs: dict):
        super().__init__(jobs)
        self.submitted: list[dict] = []

    def submit_job(self, **kwargs):
        if kwargs["submission_id"] in self.jobs:
            raise RuntimeError(
                f"Job with submission_id {kwargs['submission_id']} already exists.\nUse another."
            )
        self.submitted.append(kwargs)
        return kwargs["submission_id"]


def test_submit_uploads_the_repo_with_the_excludes_and_says_so_in_one_line(ray_job, monkeypatch, capsys):
    fake = Submissions({})
    monkeypatch.setattr(ray_job, "_client", lambda address: fake)
    entrypoint = ["/opt/venv/bin/python", "-m", "jobs.nightly", "--output", "s3://b/x y"]
    assert (
        ray_job.submit("http://x", "lenet-nightly-n1", str(REPO), "/opt/venv", {"run_id": "n1"}, entrypoint)
        == 0
    )
    (call,) = fake.submitted
    assert shlex.split(call["entrypoint"]) == entrypoint and call["metadata"] == {"run_id": "n1"}
    assert call["runtime_env"]["working_dir"] == str(REPO)
    assert {".git", ".venv", "venv", "__pycache__", "/runs/", "/smoke/"} <= set(
        call["runtime_env"]["excludes"]
    )
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(
        f"nightly.sh: job lenet-nightly-n1 submitted (working dir {REPO}): {call['entrypoint']}"
    )


def test_a_refused_submission_is_one_line_and_exit_1(ray_job, monkeypatch, capsys):
    monkeypatch.setattr(ray_job, "_client", lambda address: Submissions({"j": ("RUNNING", None, {})}))
    assert ray_job.submit("http://x", "j", str(REPO), "/opt/venv", {}, ["python"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("nightly.sh: job j was not submitted: Job with submission_id j already exists.")
