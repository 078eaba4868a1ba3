"""Reading JSON and Parquet must not pull in the training stack: checked in a fresh interpreter each time."""

import subprocess
import sys

import pytest

from tests.helpers import REPO

# Modules that read records, Parquet or settings: query, summary, report, storage and config.
LIGHT_MODULES = [
    "lenet_batch.config",
    "lenet_batch.checks",
    "lenet_batch.store.backends",
    "lenet_batch.store.writers",
    "lenet_batch.store.storage",
    "lenet_batch.store.layout",
    "lenet_batch.store.lock",
    "lenet_batch.store.run_record",
    "lenet_batch.store.seed_records",
    "lenet_batch.scoring.committed",
    "lenet_batch.scoring.query",
    "lenet_batch.summary.statistics",
    "lenet_batch.summary.gate",
    "lenet_batch.summary.figures",
    "lenet_batch.summary.report",
    "lenet_batch.summary.stage",
    "lenet_batch.json_records",
    "lenet_batch.summary.baseline",
    "lenet_batch.store.runs_index",
    "lenet_batch.history.rows",
    "lenet_batch.history.runs_table",
    "lenet_batch.history.figures",
    "lenet_batch.history.page",
    "lenet_batch.pages",
    "lenet_batch.summary.report_render",
    "lenet_batch.history.stage",
    "lenet_batch.pipeline.nightly",
    "lenet_batch.data.fashion_mnist",
    "lenet_batch.data.inputs",
    "lenet_batch.pipeline.stages",
    "lenet_batch.pipeline.placement",
    "lenet_batch.pipeline.local_scoring",
    "lenet_batch.pipeline.plan",
    "lenet_batch.state.run_state",
    "lenet_batch.state.night",
    "lenet_batch.state.listing",
    "lenet_batch.training.checkpoints",
    "lenet_batch.cluster.resources",
    "lenet_batch.cli",
    "lenet_batch.cli.commands",
    "lenet_batch.monitor.health",
    "lenet_batch.monitor.metrics",
    "lenet_batch.monitor.notify",
    "lenet_batch.monitor.watch",
    "lenet_batch.data.limits",
]
HEAVY = ("mxnet", "ray")


def imported_after(statement: str) -> set[str]:
    """Which of HEAVY a fresh interpreter has imported after running the statement."""
    probe = f"{statement}\nimport sys\nprint('HEAVY:', *(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return set(result.stdout.strip().splitlines()[-1].split()[1:])


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_module_imports_neither_mxnet_nor_ray(module):
    assert imported_after(f"import {module}") == set()


def test_the_probe_sees_a_heavy_import():
    # The check can fail: the modules that run a model do import MXNet.
    assert imported_after("import lenet_batch.training.loop") == {"mxnet"}
    assert "ray" in imported_after("import lenet_batch.cluster.session")


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["query", "--help"],
        ["summary", "--help"],
        ["query", "SELECT 1", "--output", "/nonexistent/lenet-batch-output"],
        ["runs", "--help"],
        ["history", "--help"],
        ["summary", "--run", "r", "--output", "/nonexistent/lenet-batch-output"],
        ["data", "--json"],
        ["train", "--dry-run", "--output", "/nonexistent/lenet-batch-output"],
        ["check", "--help"],
        ["check", "--output", "/nonexistent/lenet-batch-output"],
    ],
)
def test_light_commands_import_neither_mxnet_nor_ray(argv):
    statement = f"from lenet_batch.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    assert imported_after(statement) == set()


@pytest.mark.parametrize("command", ["runs", "history", "check"])
def test_runs_and_history_over_real_records_import_neither_mxnet_nor_ray(tmp_path, command):
    statement = (
        "from tests.history_helpers import write_synthetic_runs\n"
        f"write_synthetic_runs({str(tmp_path)!r}, 3, 2, {{1: 'failed'}})\n"
        "from lenet_batch.cli import main\n"
        f"assert main([{command!r}, '--output', {str(tmp_path)!r}, '-q']) in (0, 7)"  # check: stale
    )
    assert imported_after(statement) == set()
    assert command != "history" or (tmp_path / "history" / "history.html").exists()
