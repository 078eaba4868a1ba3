"""Reusing a run id: seeds are skipped or resumed only under the recipe and data they recorded.

Runs are laid out with tiny real models (no training, no cluster); each command runs in a fresh
interpreter that also reports whether it imported MXNet or Ray, so "decided before any cluster" is checked.
"""

import dataclasses
import json
import time
from pathlib import Path

import pytest

from lenet_batch.config import Recipe
from lenet_batch.data import fashion_mnist
from lenet_batch.errors import ConfigError
from lenet_batch.records import DataInfo
from lenet_batch.state.manifest import Manifest
from lenet_batch.state.run_state import read_state
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import EpochMetrics
from lenet_batch.training.checkpoints import save_checkpoint
from lenet_batch.training.seed import run_seed
from tests import helpers
from tests.prediction_helpers import install_run, tiny_arrays, trained
from tests.probe_helpers import cli, snapshot
from tests.sealed_helpers import tree_state


def lay_out(output: Path, data_dir: str, seeds: list[int], verified: bool = False, **recipe) -> RunRef:
    """Finished seeds of run t1 recording Recipe(epochs=1, **recipe) and the digests of data_dir."""
    install_run(str(output), "t1", seeds)
    run = RunRef(str(output), "t1")
    digests = fashion_mnist.read_folder(data_dir, verify=False).digests
    for seed in seeds:
        metrics = storage.read_json(run.metrics_json(seed))
        metrics["recipe"] = dataclasses.asdict(Recipe(**{"epochs": 1, **recipe}))
        metrics["data"] = {"source": data_dir, "sha256": digests, "verified": verified}
        storage.write_json_atomic(run.metrics_json(seed), metrics)
    return run


def train_args(output: Path, data_dir: str, *extra: str) -> list[str]:
    common = ["--output", str(output), "--run-id", "t1", "--data", data_dir, "--no-verify", "--seeds", "0-1"]
    return ["train", *common, "--epochs", "1", *extra]


@pytest.fixture(scope="module")
def other_data_dir(tmp_path_factory, fashion_mnist) -> str:
    """Like small_data_dir but with one test image fewer: other test-split digests, same training data."""
    folder = tmp_path_factory.mktemp("other-data")
    helpers.write_dataset(folder, fashion_mnist, n_train=12_000, n_test=1_999)
    return str(folder)


@pytest.mark.parametrize(
    "case, message",
    [
        ("--epochs 2", "epochs recorded 1 (seeds [0, 1]), requested 2"),
        ("--lr 0.05", "lr recorded 0.1 (seeds [0, 1]), requested 0.05"),
        ("--batch-size 128", "batch_size recorded 256 (seeds [0, 1]), requested 128"),
        ("other data", "data test_images recorded "),
        ("--no-verify", "data verified recorded true (seeds [0, 1]), requested false"),
        ("nightly --epochs 2", "epochs recorded 1 (seeds [0, 1]), requested 2"),
    ],
)
def test_reusing_a_run_with_other_settings_exits_2_before_any_cluster_and_writes_nothing(
    tmp_path, small_data_dir, other_data_dir, case, message
):
    lay_out(tmp_path, small_data_dir, [0, 1], verified=case == "--no-verify")
    before = snapshot(tmp_path)
    data = other_data_dir if case == "other data" else small_data_dir
    extra = case.split() if case.startswith("--") and case != "--no-verify" else []
    argv = train_args(tmp_path, data, *extra)
    if case.startswith("nightly"):
        argv = ["nightly", *argv[1:], "--epochs", "2"]
    code, out, err, heavy = cli(*argv)
    assert code == 2, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"lenet-batch {argv[0]}: error: run t1 holds seeds made with other settings: ")
    assert message in last and "Traceback" not in err
    assert heavy == []  # neither Ray nor MXNet: refused before any cluster or model
    assert snapshot(tmp_path) == before and not (tmp_path / "runs" / "t1" / "run.json").exists()


def test_a_run_with_nothing_left_prints_its_table_and_exits_0_without_ray(tmp_path, small_data_dir):
    run = lay_out(tmp_path, small_data_dir, [0, 1])
    code, out, err, heavy = cli(*train_args(tmp_path, small_data_dir, "--json"))
    assert code == 0, err[-3000:]
    rows = json.loads(out)
    assert [(r["seed"], r["status"]) for r in rows] == [(0, "skipped"), (1, "skipped")]
    assert rows[0]["test_accuracy"] == pytest.approx(trained(0)[1]["test_accuracy"])
    assert heavy == [] and "already complete" in err
    record = storage.read_json(run.run_json)
    assert record["stages"]["train"]["status"] == "complete"
    assert record["data"]["verified"] is False and len(record["data"]["sha256"]) == 4


def test_dry_run_lists_what_each_seed_would_do(tmp_path, small_data_dir):
    run = lay_out(tmp_path, small_data_dir, [0], epochs=2)
    history = [EpochMetrics(1, 1.0, 0.5, 0.5, 1.0)]
    info = DataInfo(small_data_dir, fashion_mnist.read_folder(small_data_dir, verify=False).digests, False)
    save_checkpoint(run, 1, history, trained(1)[0], recipe=Recipe(epochs=2), data=info)
    before = snapshot(tmp_path)
    args = train_args(tmp_path, small_data_dir, "--seeds", "0-2", "--epochs", "2", "--dry-run")
    code, out, err, heavy = cli(*args)
    assert code == 0, err[-3000:]
    assert "nothing trained (--dry-run)" in out.splitlines()[0]
    table = [line.strip().split(None, 4) for line in out.splitlines()[1:]]
    assert table[0] == ["stage", "seed", "action", "from_epoch", "reason"]
    assert [row[:4] for row in table[1:]] == [
        ["train", "0", "skip", "-"],
        ["train", "1", "resume", "2"],
        ["train", "2", "train", "1"],
    ]
    code, out, _, heavy_json = cli(*args, "--json")
    assert [(p["seed"], p["action"], p["from_epoch"]) for p in json.loads(out)] == [
        (0, "skip", None),
        (1, "resume", 2),
        (2, "train", 1),
    ]
    assert heavy == heavy_json == [] and snapshot(tmp_path) == before
    code, _, err, _ = cli(
        *train_args(tmp_path, small_data_dir, "--seeds", "0-2", "--epochs", "3", "--dry-run")
    )
    assert code == 2 and "epochs recorded 2 (seeds [0, 1]), requested 3" in err


def test_a_checkpoint_records_its_recipe_and_data(tmp_path):
    run = RunRef(str(tmp_path), "ck")
    data = DataInfo("s", {"train_images": "a" * 64}, True)
    history = [EpochMetrics(e, 1.0, 0.5, 0.5, 1.0) for e in (1, 2)]
    save_checkpoint(run, 3, history, b"params", recipe=Recipe(epochs=5, lr=0.2), data=data)
    state = read_state(run).seed(3)
    assert not state.finished and state.epoch == 2
    assert state.manifest() == Manifest(Recipe(epochs=5, lr=0.2), data)


def test_a_task_replans_its_seed_from_the_files_as_they_are(tmp_path):
    """What a Ray task runs: a checkpoint a killed attempt left is resumed; another recipe is refused."""
    import mxnet as mx

    from lenet_batch.store.seed_records import record_attempt
    from lenet_batch.training.loop import train_seed

    arrays = {k: v[:512] for k, v in tiny_arrays().items()}
    data = DataInfo("tiny", {}, True)
    recipe = Recipe(epochs=2)
    clean = RunRef(str(tmp_path), "clean")
    assert run_seed(arrays, data_info=data, recipe=recipe, seed=4, run=clean).status == "trained"
    # A killed first attempt: its attempt recorded, its checkpoint after epoch 1 left behind.
    killed = RunRef(str(tmp_path), "killed")
    epochs = {}
    train_seed(
        arrays, recipe, 4, mx.cpu(), on_epoch=lambda h, p: epochs.setdefault(h[-1].epoch, (list(h), p))
    )
    record_attempt(killed, 4)
    save_checkpoint(killed, 4, *epochs[1], recipe=recipe, data=data)
    with pytest.raises(
        ConfigError, match=r"its checkpoint was made otherwise \(epochs recorded 2, requested 3\)"
    ):
        run_seed(arrays, data_info=data, recipe=Recipe(epochs=3), seed=4, run=killed)
    resumed = run_seed(arrays, data_info=data, recipe=recipe, seed=4, run=killed)
    assert (resumed.status, resumed.attempts) == ("resumed", 2)
    assert Path(killed.model_params(4)).read_bytes() == Path(clean.model_params(4)).read_bytes()


@pytest.mark.slow
def test_make_run_twice_does_nothing_the_second_time_and_more_epochs_are_refused(tmp_path, small_data_dir):
    """`make run`, `make run` again, then `make run EPOCHS=2` with the same run id: the nightly CLI
    sequence they run. The second is "nothing to do": no Ray, no MXNet, no file written (not even the
    lock, the history, the heartbeat or a log), in about the time of `lenet-batch runs`."""
    args = ["nightly", "--output", str(tmp_path), "--run-id", "t1", "--data", small_data_dir, "--no-verify"]
    first = helpers.run_cli(*args, "--seeds", "0-1", "--epochs", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    before, state = snapshot(tmp_path), tree_state(tmp_path)
    started = time.monotonic()
    code, out, err, heavy = cli(*args, "--seeds", "0-1", "--epochs", "1")
    again = time.monotonic() - started
    assert code == 0, err[-3000:]
    assert "nothing to do: run t1 is complete and nothing changed since its summary" in out
    assert heavy == [] and tree_state(tmp_path) == state
    started = time.monotonic()
    assert cli("runs", "--output", str(tmp_path))[0] == 0
    runs = time.monotonic() - started
    print(f"nothing to do: {again:.1f} s; lenet-batch runs: {runs:.1f} s")
    assert again < 3 * runs + 2  # the same order of time; loose, on a shared machine
    second = helpers.run_cli(*args, "--seeds", "0-1", "--epochs", "2")
    assert second.returncode == 2, second.stderr[-3000:]
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith("lenet-batch nightly: error: run t1 holds seeds made with other settings: ")
    assert "epochs recorded 1 (seeds [0, 1]), requested 2" in last and "Traceback" not in second.stderr
    assert "started a local Ray" not in second.stderr
    assert snapshot(tmp_path) == before  # no run.json update, no lock left, no new heartbeat
