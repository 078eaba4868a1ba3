"""The Makefile: help shows real defaults; `make run` passes RUN_ID and ARGS; `make smoke` is the README's
first night; CI runs it, then the tests; and none of it leaves the checkout dirty."""

import importlib.metadata
import json
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from lenet_batch.cli import build_parser
from tests import readme
from tests.helpers import REPO, VENV_BIN

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
needs_git = pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout"
)
VENV = VENV_BIN.parent
# The tests' own interpreter, never installed again by a test (-o: its stamp counts as up to date).
NO_INSTALL = [f"VENV={VENV}", "-o", f"{VENV}/bin/.installed"]


def make(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", "-C", str(REPO), *NO_INSTALL, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def make_help(*overrides: str) -> str:
    done = make("help", *overrides)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cli_lines(*args: str) -> list[list[str]]:
    """The lenet-batch commands `make -n ARGS` would run, as argument lists after `lenet-batch`."""
    done = make("-n", *args)
    assert done.returncode == 0, done.stderr
    commands = [shlex.split(line) for line in done.stdout.splitlines() if line.strip()]
    return [words[1:] for words in commands if words and words[0] == f"{VENV_BIN}/lenet-batch"]


def parsed(argv: list[str]) -> dict:
    """What the CLI makes of a command line (a flag given twice: the last one)."""
    return vars(build_parser().parse_args(argv))


@needs_make
def test_make_help_shows_the_defaults_and_the_values_given():
    text = make_help()
    assert "$(" not in text
    assert "seeds 0-3 x 10 epochs into ./runs [RUN_ID=id ARGS=" in text
    assert "seeds 0-7 x 2 epochs into s3://b/x" in make_help("SEEDS=0-7", "EPOCHS=2", "OUTPUT=s3://b/x")
    assert "into /tmp/s, then check it" in make_help("SMOKE=/tmp/s")
    targets = [line.split()[0] for line in text.splitlines()]
    assert {"run", "smoke", "test", "test-fast", "lint", "bench"} <= set(targets)


@needs_make
@pytest.mark.parametrize(
    "variables, expected",
    [
        ([], {"run_id": None, "seeds": "0-3", "epochs": 10, "output": "./runs"}),
        (["RUN_ID=x"], {"run_id": "x", "seeds": "0-3", "epochs": 10}),
        (["RUN_ID=x", "ARGS=--seeds 0-1 --epochs 1"], {"run_id": "x", "seeds": "0-1", "epochs": 1}),
        (["ARGS=--lr 0.05 --data '/a b/c'"], {"lr": 0.05, "data": "/a b/c", "run_id": None}),
        (["SEEDS=4", "OUTPUT=/tmp/o", "ARGS=--seeds 5"], {"seeds": "5", "output": "/tmp/o"}),
    ],
)
def test_make_run_passes_the_run_id_and_any_flag_after_its_own(variables, expected):
    (argv,) = cli_lines("run", *variables)
    args = parsed(argv)
    assert args["command"] == "nightly"
    assert {k: args[k] for k in expected} == expected


@needs_make
def test_make_smoke_runs_the_readmes_first_night_through_make_run():
    shown = [shlex.split(c)[1:] for c, _ in readme.commands_and_output(readme.block("first-night"))]
    assert [parsed(a) for a in cli_lines("smoke")] == [parsed(a) for a in shown]
    recipe = (REPO / "Makefile").read_text().split("\nsmoke:", 1)[1].split("\n\n", 1)[0]
    assert "$(MAKE) --no-print-directory run " in recipe  # CI's `make smoke` runs `make run`'s recipe
    # RUN_ID and ARGS reach the smoke night too; SMOKE moves it.
    nightly, check = map(parsed, cli_lines("smoke", "SMOKE=/tmp/s", "RUN_ID=r", "ARGS=--lr 0.05"))
    assert (nightly["run_id"], nightly["lr"], nightly["train_limit"], nightly["output"]) == (
        "r",
        0.05,
        6000,
        "/tmp/s",
    )
    assert check["output"] == "/tmp/s"


def test_ci_runs_make_smoke_then_make_test_on_the_same_clone():
    lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()]
    commands = [ln for ln in lines if ln.startswith("make ")]
    assert commands == ["make smoke", "make test"], commands
    assert "set -euo pipefail" in lines  # a failing `make smoke` fails CI


@needs_git
def test_what_make_run_and_make_smoke_leave_is_ignored_by_git():
    left = ["runs/runs/2026-12-06/run.json", "runs/history/runs.parquet", "smoke/_last_success.json"]
    done = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "--no-index", *left], capture_output=True, text=True
    )
    assert done.stdout.split() == left, done.stderr


def checkout_state() -> list[str]:
    """`git status` of the checkout, untracked and ignored files included (bytecode caches aside)."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--ignored", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(ln for ln in done.stdout.splitlines() if "__pycache__" not in ln)


@pytest.mark.slow
@needs_make
@needs_git
def test_make_run_twice_a_day_and_with_other_settings_as_the_readme_says(
    ray_cluster, small_data_dir, tmp_path
):
    out = tmp_path / "runs"
    env = {**ray_cluster.env(), "LENET_BATCH_DATA": small_data_dir, "LENET_BATCH_NO_VERIFY": "1"}
    flags = f"--address {ray_cluster.address} --train-limit 1000 --test-limit 200 -q"
    before = checkout_state()

    def make_run(*variables: str, more: str = "") -> subprocess.CompletedProcess:
        args = f"ARGS={flags} {more}".strip()
        return make("run", f"OUTPUT={out}", "SEEDS=0", *variables, args, env=env, timeout=900)

    first = make_run("EPOCHS=1")
    assert first.returncode == 0, first.stderr[-3000:]
    (night,) = [p.name for p in (out / "runs").iterdir()]  # today's UTC date, the default run id
    again = make_run("EPOCHS=1")
    assert again.returncode == 0 and f"nothing to do: run {night} is complete" in again.stdout
    listing = sorted(p.relative_to(out) for p in out.rglob("*"))
    other = make_run("EPOCHS=2")
    assert other.returncode == 2
    assert f"run {night} holds seeds made with other settings: epochs recorded 1" in other.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == listing  # refused: nothing written
    # (one seed on 1,000 images: the gate against the first night would judge noise)
    own = make_run("EPOCHS=2", f"RUN_ID={night}-e2", more="--baseline none")
    assert own.returncode == 0, own.stderr[-3000:]
    assert sorted(p.name for p in (out / "runs").iterdir()) == [night, f"{night}-e2"]
    assert checkout_state() == before


def test_make_install_puts_the_checkout_on_the_path_without_an_import_hook():
    # The record in site-packages (the checkout's lenet_batch.egg-info may come first on sys.path).
    site = sysconfig.get_paths()["purelib"]
    (dist,) = [
        d for d in importlib.metadata.distributions(path=[site]) if d.metadata["Name"] == "lenet-batch"
    ]
    if not json.loads(dist.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable"):
        pytest.skip("lenet-batch is not installed editable here (make install does that)")
    # setuptools' import-hook mode (a *_finder.py module) is the one that warns through `pip --quiet`.
    assert not [f.name for f in dist.files if f.name.endswith("_finder.py")]
    (pth,) = [f for f in dist.files if f.name.startswith("__editable__") and f.name.endswith(".pth")]
    assert Path(pth.locate().read_text().strip()).resolve() == REPO.resolve()
