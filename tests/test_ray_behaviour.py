"""What Ray itself does that we rely on, checked against a real cluster: its Jobs API (deploy/nightly.sh)
and what lenet_batch.cluster sets or patches.

These pin Ray's behaviour, not ours: if an upgrade of Ray changes one, nightly.sh's submission id, exit
status or token handling, or the cluster code that relies on it, must change with it.
"""

import os
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.helpers import VENV_BIN, job_exists, job_info, ray_cli, submit

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
