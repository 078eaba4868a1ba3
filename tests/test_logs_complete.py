"""Every epoch line of every seed once, in order, in the terminal and the durable log; -q: warnings only."""

import logging
import re

import pytest

from lenet_batch import cli
from lenet_batch.cluster import progress, session
from lenet_batch.store import run_log
from lenet_batch.store.layout import RunRef
from tests import helpers

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def epoch_lines(text: str, epochs: int) -> list[tuple[int, int]]:
    """(seed, epoch) of every epoch line in the text, wherever it stands (a duplicate counts twice)."""
    return [(int(s), int(e)) for s, e in re.findall(rf"seed (\d+) epoch (\d+)/{epochs} loss ", text)]


@pytest.mark.slow
def test_every_epoch_line_of_every_seed_once_in_the_terminal_and_in_the_durable_log(
    ray_cluster, fashion_mnist, tmp_path
):
    data = tmp_path / "data"
    helpers.write_dataset(data, fashion_mnist, n_train=1024, n_test=256)
    result = helpers.run_cli(
        *("train", "--seeds", "0-2", "--epochs", "2", "--cpus-per-seed", "1", "--run-id", "r"),
        *("--data", str(data), "--no-verify", "--output", str(tmp_path / "out")),
        *("--address", ray_cluster.address),
        env=ray_cluster.env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (durable,) = (tmp_path / "out" / "runs" / "r" / "logs").glob("train-*.log")
    expected = [(seed, epoch) for seed in range(3) for epoch in (1, 2)]
    for where, text in (("terminal", result.stderr), ("durable log", durable.read_text())):
        assert sorted(epoch_lines(text, 2)) == expected, f"{where}:\n{text[-3000:]}"
        lines = text.splitlines()
        for seed in range(3):  # the driver's own lines (no Ray prefix), each seed's in order
            marks = (f"seed {seed} epoch 1/2 ", f"seed {seed} epoch 2/2 ", f"seed {seed}: trained")
            at = [next(i for i, ln in enumerate(lines) if mark in ln) for mark in marks]
            assert at == sorted(at), f"{where}: seed {seed} out of order"
            assert all(re.match(rf"{STAMP} INFO seed {seed}", lines[i]) for i in at), where


@pytest.fixture
def terminal(capsys):
    """The CLI's logging as `lenet-batch -q` sets it up; undone after the test."""
    root, before = logging.getLogger(), list(logging.getLogger().handlers)
    level = logging.getLogger("lenet_batch").level
    yield capsys
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
    logging.getLogger("lenet_batch").setLevel(level)


def test_quiet_keeps_relayed_warnings_in_the_terminal_and_every_line_in_the_durable_log(terminal, tmp_path):
    cli.configure_logging(verbose=False, quiet=True)
    (tmp_path / "runs" / "r").mkdir(parents=True)  # the run exists: its log is kept in it
    durable = run_log.attach(RunRef(str(tmp_path), "r"), "train-test.log")
    progress.relay(
        [
            (1_700_000_000.25, logging.INFO, "lenet_batch.training.loop", "seed 4 epoch 1/2 loss 0.5"),
            (1_700_000_001.5, logging.WARNING, "lenet_batch.training.checkpoints", "seed 4: bad checkpoint"),
            (1_700_000_002.0, logging.INFO, "some_library", "not ours, not a warning"),
        ]
    )
    run_log.detach(durable, keep=True)
    err = terminal.readouterr().err
    assert "epoch 1/2" not in err
    assert "2023-11-14T22:13:21.500Z WARNING seed 4: bad checkpoint" in err  # the time it had in its task
    saved = (tmp_path / "runs" / "r" / "logs" / "train-test.log").read_text().splitlines()
    assert saved == [
        "2023-11-14T22:13:20.250Z INFO seed 4 epoch 1/2 loss 0.5",
        "2023-11-14T22:13:21.500Z WARNING seed 4: bad checkpoint",
    ]


@pytest.mark.parametrize("quiet", [False, True])
def test_rays_own_info_lines_follow_the_terminals_level(terminal, quiet):
    cli.configure_logging(verbose=False, quiet=quiet)
    session.restamp_ray_logs()
    ray_logger = logging.getLogger("ray._private.worker")
    ray_logger.info("Started a local Ray instance.")
    ray_logger.warning("dashboard at \x1b[1m\x1b[32mhttp://127.0.0.1:8265\x1b[39m\x1b[22m")
    err = terminal.readouterr().err
    assert ("Started a local Ray instance." in err) is not quiet
    assert re.search(rf"^{STAMP} WARNING dashboard at http://127.0.0.1:8265$", err, re.M), err
