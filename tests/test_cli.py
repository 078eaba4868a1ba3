"""CLI: user errors are one line on stderr with exit code 2; data and predict commands work."""

import json
import subprocess
import sys

import pytest

from lenet_batch import cli
from lenet_batch.data.classes import CLASS_NAMES
from tests import helpers


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--seeds", "x-y"], "--seeds: cannot parse"),
        (["train", "--epochs", "zero"], "invalid int value"),
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        (["train", "--epochs", "0", "--dry-run"], "--epochs must be at least 1"),
        (["data", "--data", "/nonexistent/folder"], "cannot read Fashion-MNIST file"),
        (
            ["train", "--config", "/nonexistent.toml", "--dry-run"],
            "--config /nonexistent.toml: file not found",
        ),
        (
            ["predict", "--run", "nope", "--seed", "0", "--output", "/nonexistent"],
            "no model for that run and seed",
        ),
        (["nosuchcommand"], "invalid choice"),
        (["data", "--first", "-1", "--plot", "x.png"], "argument --first: '-1' must be at least 1"),
        (["predict", "--seed", "0", "--first", "0"], "argument --first: '0' must be at least 1"),
        (["predict", "--seed", "0", "--first", "many"], "argument --first: 'many' is not a whole number"),
    ],
)
def test_user_errors_exit_2_with_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(cli.main(args))
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert "Traceback" not in err[0]


def test_unknown_key_in_config_file_exits_2(tmp_path, capsys):
    (tmp_path / "c.toml").write_text("epoks = 3\n")
    assert cli.main(["train", "--config", str(tmp_path / "c.toml"), "--dry-run"]) == 2
    assert "unknown setting 'epoks'" in capsys.readouterr().err


def test_corrupt_data_file_exits_2_naming_it(tmp_path, fashion_mnist):
    helpers.write_dataset(tmp_path, fashion_mnist, 100, 100)
    raw = (tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(raw[: len(raw) // 2])
    result = helpers.run_cli("data", "--data", str(tmp_path), "--no-verify")
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "damaged or truncated gzip data (Compressed file ended before the end-of-stream marker was reached)"
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_data_command_describes_the_dataset_and_plots(tmp_path, capsys):
    plot = tmp_path / "first.png"
    assert cli.main(["data", "--json", "--plot", str(plot), "--first", "8"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"]["train"]["images"] == {"shape": [60000, 28, 28], "dtype": "uint8"}
    assert info["splits"]["test"]["class_balance"] == {name: 1000 for name in CLASS_NAMES}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_file_values_reach_the_dry_run_plan(tmp_path, capsys):
    (tmp_path / "c.toml").write_text('epochs = 3\nseeds = "2,5"\nbatch_size = 128\n')
    assert cli.main(["train", "--config", str(tmp_path / "c.toml"), "--epochs", "4", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "seeds [2, 5] x 4 epochs" in out and "batch 128" in out and "nothing trained" in out


def test_predict_prints_true_vs_predicted_and_plots(tmp_path, fashion_mnist, capsys):

    from lenet_batch.config import Recipe
    from lenet_batch.records import DataInfo
    from lenet_batch.store.layout import RunRef
    from lenet_batch.training.seed import run_seed

    arrays = {k: v[:2048] for k, v in fashion_mnist.arrays().items()}
    run_seed(arrays, data_info=DataInfo(), recipe=Recipe(epochs=1), seed=0, run=RunRef(str(tmp_path), "r1"))
    plot = tmp_path / "pred.png"
    argv = [
        "predict",
        "--output",
        str(tmp_path),
        "--run",
        "r1",
        "--seed",
        "0",
        "--first",
        "6",
        "--plot",
        str(plot),
    ]
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"0\ttrue {CLASS_NAMES[fashion_mnist.test_labels[0]]}")
    assert lines[6].endswith("/6 correct") and lines[7] == f"plot: {plot}"
    assert plot.read_bytes()[:4] == b"\x89PNG"
    # metrics.json says nothing of the process that trained it (in a Ray worker: Ray's worker script).
    assert "argv" not in json.loads(
        (tmp_path / "runs" / "r1" / "seeds" / "seed=0" / "metrics.json").read_text()
    )


def test_version_and_global_flags_before_or_after_the_command(tmp_path, capsys):
    from lenet_batch import __version__

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"lenet-batch {__version__}"
    (tmp_path / "c.toml").write_text("epochs = 3\n")
    for argv in (
        ["--config", str(tmp_path / "c.toml"), "-q", "train", "--dry-run"],
        ["train", "--config", str(tmp_path / "c.toml"), "-q", "--dry-run"],
    ):
        assert cli.main(argv) == 0
        assert "x 3 epochs" in capsys.readouterr().out


def test_query_takes_no_data_flags_and_says_it_reads_every_run(capsys):
    with pytest.raises(SystemExit) as usage:
        cli.main(["query", "SELECT 1", "--no-verify"])
    assert usage.value.code == 2 and "unrecognized arguments: --no-verify" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["query", "--help"])
    assert "only this run (default: every run)" in capsys.readouterr().out


def test_jobs_are_packaged_and_run_from_any_working_directory(tmp_path):
    # `python -m jobs.nightly` as a Ray job's entrypoint or a cron line, outside the checkout.
    result = subprocess.run(
        [sys.executable, "-m", "jobs.nightly", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--seeds" in result.stdout and "nightly" in result.stdout
