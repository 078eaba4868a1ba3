"""The Makefile's help shows real defaults, and CI runs the README's two commands in the README's order."""

import shutil
import subprocess

import pytest

from tests.helpers import REPO

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make_help(*overrides: str) -> str:
    done = subprocess.run(
        ["make", "-s", "-C", str(REPO), "help", *overrides], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_make
def test_make_help_shows_the_defaults_and_the_values_given():
    text = make_help()
    assert "$(" not in text
    assert "seeds 0-3 x 10 epochs into ./runs" in text
    assert "seeds 0-7 x 2 epochs into s3://b/x" in make_help("SEEDS=0-7", "EPOCHS=2", "OUTPUT=s3://b/x")
    targets = [line.split()[0] for line in text.splitlines()]
    assert {"run", "test", "test-fast", "lint", "bench"} <= set(targets)


def test_ci_runs_make_run_small_then_make_test_on_the_same_clone():
    lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()]
    commands = [ln for ln in lines if ln.startswith("make ")]
    assert commands == ["make run SEEDS=0-1 EPOCHS=1", "make test"], commands
    assert "set -euo pipefail" in lines  # a failing `make run` fails CI
