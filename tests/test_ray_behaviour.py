"""What Ray itself does that we rely on, checked against a real cluster: its Jobs API (deploy/nightly.sh)
and what lenet_batch.cluster sets or patches.

These pin Ray's behaviour, not ours: if an upgrade of Ray changes one, nightly.sh's submission id, exit
status or token handling, or the cluster code that relies on it, must change with it.
"""

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.helpers import REPO, VENV_BIN, job_exists, job_info, ray_cli, submit
from tests.test_ray_jobs import listening_addresses
from tests.test_signals import TAG, of_its_ray, session_dirs, tagged

pytestmark = pytest.mark.slow

AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def token_file() -> Path:
    """The tests' token: conftest writes <home>/.ray/auth_token and points RAY_AUTH_TOKEN_PATH at it."""
    return Path(os.environ["RAY_AUTH_TOKEN_PATH"])


def test_a_second_job_with_the_same_submission_id_is_rejected(cluster):
    submission_id = f"lb-dup-{uuid.uuid4().hex[:8]}"
    first = submit(cluster, submission_id, "true")
    assert first.returncode == 0, first.stderr[-2000:]
    again = submit(cluster, submission_id, "false")
    assert again.returncode == 1
    assert f"Job with submission_id {submission_id} already exists" in again.stderr + again.stdout
    info = job_info(cluster, submission_id)  # the first job is untouched
    assert info.status.value == "SUCCEEDED" and info.entrypoint == "true"


@pytest.mark.parametrize(
    "case, env_changes, answer",
    [
        # The token file is there, but a client not in token mode does not send it: 401.
        ("no RAY_AUTH_MODE", {"HOME": "<token home>"}, "Missing authentication token"),
        ("no token file", {"RAY_AUTH_MODE": "token"}, "couldn't find an authentication token"),
        (
            "wrong token",
            {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64},
            "Invalid authentication token",
        ),
    ],
)
def test_jobs_api_refuses_a_client_without_the_token(cluster, tmp_path, case, env_changes, answer):
    # HOME elsewhere (no ~/.ray/auth_token) and no RAY_AUTH_* variables, unless the case sets them.
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS} | {"HOME": str(tmp_path)}
    env |= {k: str(token_file().parent.parent) if v == "<token home>" else v for k, v in env_changes.items()}
    submission_id = f"lb-noauth-{uuid.uuid4().hex[:8]}"
    result = ray_cli(
        *("job", "submit", "--address", cluster.dashboard_url, "--submission-id", submission_id),
        *("--", "true"),
        env=env,
    )
    assert result.returncode != 0, case
    assert answer in result.stderr + result.stdout, case
    assert not job_exists(cluster, submission_id)


def test_jobs_api_needs_the_token_over_plain_http_and_accepts_a_token_path(cluster, tmp_path):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{cluster.dashboard_url}/api/jobs/", timeout=30)
    assert refused.value.code == 401
    # The token given by path (RAY_AUTH_TOKEN_PATH) instead of ~/.ray/auth_token is accepted.
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    env |= {"HOME": str(tmp_path), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file())}
    result = ray_cli("job", "list", "--address", cluster.dashboard_url, env=env)
    assert result.returncode == 0, result.stderr[-2000:]


# --- what lenet_batch.cluster relies on ---------------------------------------------------------------------

NODE_LOOKUP = """
import sys, time
import ray._private.services as services
started = time.monotonic()
try:
    services.get_node(sys.argv[1], "ff" * 28)  # a node that never registers
except RuntimeError:
    print(time.monotonic() - started)
"""


@pytest.mark.parametrize("seconds", [2, 5])
def test_rays_start_wait_setting_bounds_its_wait_for_a_node_to_register(ray_cluster, seconds):
    # connect.START_WAIT_SECONDS: ray.init's start waits for its raylet through this lookup, whose wait
    # RAY_raylet_start_wait_time_s sets (about 30 s in all without it).
    env = {**ray_cluster.env(), "RAY_raylet_start_wait_time_s": str(seconds)}
    result = subprocess.run(
        [str(VENV_BIN / "python"), "-c", NODE_LOOKUP, ray_cluster.address],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.strip(), result.stderr[-2000:]
    assert seconds - 0.5 < float(result.stdout) < seconds + 3


def _python(code: str, *args: str, tag: str, **kwargs) -> subprocess.Popen:
    """This venv's Python running `code`, its Ray's processes marked with `tag` (test_signals.tagged)."""
    env = {**os.environ, TAG: tag, "RAY_DEDUP_LOGS": "0"}
    return subprocess.Popen(
        [str(VENV_BIN / "python"), "-c", code, *args], env=env, text=True, stdout=subprocess.PIPE, **kwargs
    )


def _kill_tagged(tag: str) -> None:
    for pid in tagged(tag):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def tag():
    """A tag for one test's Ray processes; whatever still carries it afterwards is killed."""
    value = uuid.uuid4().hex
    yield value
    _kill_tagged(value)


SIGTERM_HANDLERS = """
import contextlib, os, signal, sys, time
import ray
from lenet_batch.cluster import session
handled = []
ours = lambda signum, frame: handled.append(signum)
signal.signal(signal.SIGTERM, ours)
with session._sigterm_left_to_us() if sys.argv[1] == "kept out" else contextlib.nullcontext():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
print("ours after ray.init:", signal.getsignal(signal.SIGTERM) is ours, flush=True)
signal.signal(signal.SIGTERM, ours)
ray.shutdown()
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(0.5)
print("handled after ray.shutdown:", handled == [signal.SIGTERM], flush=True)
"""


@pytest.mark.parametrize("ray_hands", ["left in", "kept out"])
def test_ray_init_takes_sigterm_from_the_caller_unless_kept_out(tag, ray_hands):
    # session._sigterm_left_to_us: ray.init installs a Python handler of its own (sys.exit) and a C++
    # failure handler that ray.shutdown resets to the default action, so that a SIGTERM after a Ray
    # session killed the driver outright (no clean-up, the lock left). Kept out, ours sees every SIGTERM.
    driver = _python(SIGTERM_HANDLERS, ray_hands, tag=tag, stderr=subprocess.DEVNULL)
    out, _ = driver.communicate(timeout=300)
    if ray_hands == "left in":
        assert "ours after ray.init: False" in out and driver.returncode == -signal.SIGTERM, out
    else:
        assert "ours after ray.init: True" in out and "handled after ray.shutdown: True" in out, out
        assert driver.returncode == 0


LOCAL_RAY = """
import os, sys
# as Ray chooses: not as an earlier local Ray of this test process left the environment (prepare_local)
os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
import ray
from lenet_batch.cluster import connect
if sys.argv[1] == "single node":
    connect.prepare_local()
ray.init(num_cpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
print("up", flush=True)
sys.stdin.read()
ray.shutdown()
"""


@pytest.mark.parametrize("mode", ["as Ray chooses", "single node"])
def test_a_local_ray_listens_on_loopback_only_when_treated_as_single_node(tag, mode):
    # connect.prepare_local: ray.init(_node_ip_address="127.0.0.1") alone maps 127.0.0.1 to the host's
    # address and listens on every interface.
    # Ray's processes open their ports as they come up, some after ray.init returns: every socket any of
    # them listens on over 10 s counts (found by the mark or, for `ray::` titles, by the session folder).
    loopback, addresses = {"127.0.0.1", "::ffff:7f00:1"}, set()
    driver = _python(LOCAL_RAY, mode, tag=tag, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert driver.stdout.readline().strip() == "up"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and addresses <= loopback:
            addresses |= listening_addresses(of_its_ray(tag, session_dirs(tagged(tag))))
            time.sleep(0.5)
    finally:
        driver.communicate(input="", timeout=120)
    assert addresses and (addresses <= loopback) is (mode == "single node"), addresses


def test_the_settings_a_local_ray_gets_are_still_rays():
    # connect.LOCAL_SETTINGS: Ray reads each as an environment variable, in its Python code or as a
    # RAY_<name> of its C++ config; a name Ray no longer knows would be silently ignored.
    import ray

    from lenet_batch.cluster import connect

    root = Path(ray.__file__).parent
    python = "\n".join(p.read_text(errors="replace") for p in root.rglob("*.py") if "tests" not in p.parts)
    binary = (root / "_raylet.so").read_bytes()
    for name in connect.LOCAL_SETTINGS:
        cpp = name.removeprefix("RAY_")
        assert f'"{name}"' in python or (name.startswith("RAY_") and cpp.encode() + b"\0" in binary), name


def test_the_readme_names_the_ray_version_that_is_pinned_and_installed():
    import re
    from importlib import metadata

    installed = metadata.version("ray")
    docs = (REPO / "docs" / "running.md").read_text()  # "Supported Ray"
    pins = set(re.findall(r"ray\[default\]==([0-9.]+)", docs))
    assert pins == {installed} and f'"ray[default]=={installed}"' in (REPO / "pyproject.toml").read_text()
