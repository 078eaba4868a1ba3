"""Tests are hermetic: each runs in its own empty folder, without the shell's settings (conftest.hermetic),
so `make run` before `make test` in one checkout, or a LENET_BATCH_OUTPUT in the shell, changes nothing."""

import os
from pathlib import Path

import pytest

from tests import helpers


def test_each_test_runs_in_its_own_empty_folder(tmp_path):
    assert Path.cwd() == tmp_path and not list(tmp_path.iterdir())
    assert helpers.REPO not in Path.cwd().parents


@pytest.mark.parametrize(
    ("name", "isolated"),
    [
        ("LENET_BATCH_OUTPUT", True),
        ("LENET_BATCH_NO_VERIFY", True),
        ("RAY_ADDRESS", True),
        ("RAY_JOB_CONFIG_JSON_ENV_VAR", True),
        ("AWS_ENDPOINT_URL", True),
        ("AWS_PROFILE", True),
        ("XDG_CACHE_HOME", True),
        ("DNNL_MAX_CPU_ISA", True),
        ("DNNL_VERBOSE", True),
        ("RAY_AUTH_TOKEN_PATH", False),  # the tests' own token (conftest)
        ("OMP_NUM_THREADS", False),  # set by conftest before MXNet loads
        ("PATH", False),
        ("HOME", False),
    ],
)
def test_settings_of_the_shell_never_reach_a_test(name, isolated):
    assert helpers.isolated(name) is isolated
    if isolated:
        assert name not in os.environ


def test_the_cli_in_a_subprocess_runs_in_the_tests_folder(tmp_path):
    (tmp_path / "c.toml").write_text("epochs = 3\n")
    result = helpers.run_cli("train", "--config", "c.toml", "--seeds", "0", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "x 3 epochs" in result.stdout and "nothing recorded" in result.stdout
    assert not (helpers.REPO / "c.toml").exists()
