"""A diverged seed is a failed seed: a NaN or infinite loss or parameter fails it ("diverged at epoch N"),
and so does a test accuracy at or below chance plus 2 points after its last epoch ("did not learn"); either
leaves it incomplete, and a model with non-finite parameters is refused for scoring, naming its seed."""

import hashlib
import json

import mxnet as mx
import numpy as np
import pytest

from lenet_batch.config import Recipe
from lenet_batch.data.classes import DIVERGED_ACCURACY, chance_line
from lenet_batch.data.fashion_mnist import FILES
from lenet_batch.errors import ModelFileError, SeedDiverged
from lenet_batch.records import DataInfo
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import EpochMetrics
from lenet_batch.training import loop, model
from lenet_batch.training.checkpoints import Checkpoint, load_checkpoint
from lenet_batch.training.seed import run_seed
from tests import helpers
from tests.fault_helpers import assert_one_line_error
from tests.helpers import score_seed
from tests.prediction_helpers import install_run, tiny_arrays


@pytest.mark.parametrize("lr", [1e23, 1e6, float(np.finfo(np.float32).max)])
def test_a_huge_learning_rate_fails_the_seed_at_its_first_epoch(lr):
    with pytest.raises(SeedDiverged, match=r"seed 4 diverged at epoch 1 \(.*not finite\); lower --lr"):
        loop.train_seed(tiny_arrays(), Recipe(epochs=2, lr=lr), 4, mx.cpu())


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_parameter_fails_the_epoch_even_when_the_loss_reads_finite(value):
    net = model.create_lenet(mx.cpu())
    weight = net[0].weight
    data = weight.data().asnumpy()
    data[0, 0, 0, 0] = value
    weight.set_data(mx.nd.array(data))
    with pytest.raises(SeedDiverged, match=r"seed 7 diverged at epoch 3 \(parameters 0.weight not finite\)"):
        loop.check_finite(net, 7, 3, 0.5)
    loop.check_finite(model.create_lenet(mx.cpu()), 7, 3, 0.5)  # a healthy network passes


def test_a_diverged_seed_leaves_no_model_no_metrics_and_no_checkpoint(tmp_path):
    run = RunRef(str(tmp_path), "r")
    with pytest.raises(SeedDiverged, match="diverged at epoch 1"):
        run_seed(tiny_arrays(), data_info=DataInfo("tiny"), recipe=Recipe(epochs=2, lr=1e23), seed=0, run=run)
    assert not storage.exists(run.metrics_json(0)) and not storage.exists(run.model_params(0))
    assert not storage.exists(run.checkpoint_dir(0))
    assert len(json.loads(open(run.attempts_json(0)).read())) == 1  # the attempt is on record


def _poison(output: str, run_id: str, seed: int, value: float) -> None:
    """Overwrite a finished seed's model with one holding `value`, its digest updated (as if trained so)."""
    run = RunRef(output, run_id)
    net = model.create_lenet(mx.cpu())
    bias = net[-1].bias
    bias.set_data(mx.nd.full(bias.shape, value))
    params = model.params_to_bytes(net)
    storage.write_bytes_atomic(run.model_params(seed), params)
    metrics = storage.read_json(run.metrics_json(seed))
    storage.write_json_atomic(
        run.metrics_json(seed), {**metrics, "model_sha256": hashlib.sha256(params).hexdigest()}
    )


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_model_with_non_finite_parameters_is_refused_for_scoring_naming_its_seed(tmp_path, value):
    out = str(tmp_path)
    install_run(out, "r", [0, 1])
    _poison(out, "r", 1, value)
    from lenet_batch.data.inputs import ImageSource

    with pytest.raises(ModelFileError, match=r"the model of seed 1 .*7.bias hold NaN or infinite values"):
        score_seed(RunRef(out, "r"), 1, ImageSource(batch_size=256), test_split=tiny_arrays())
    predicted = helpers.run_cli("predict", "--output", out, "--run", "r", "--seed", "1", "-q")
    assert_one_line_error(predicted.returncode, predicted.stderr, 2, "seed 1")
    inferred = helpers.run_cli("infer", "--output", out, "--run", "r", "--json", "-q")
    assert inferred.returncode == 3, inferred.stderr[-3000:]
    rows = {r["seed"]: r for r in json.loads(inferred.stdout)}
    assert rows[0]["status"] == "scored" and rows[1]["status"] == "failed"
    assert "ModelFileError" in rows[1]["error"] and "seed 1" in rows[1]["error"]


@pytest.mark.slow
def test_train_with_a_diverging_lr_exits_3_and_marks_no_seed_complete(tmp_path):
    data = tmp_path / "data"
    from tests.prediction_helpers import fashion

    helpers.write_dataset(data, fashion(), n_train=1000, n_test=200)
    args = ["train", "--output", str(tmp_path / "out"), "--run-id", "d", "--data", str(data), "--no-verify"]
    result = helpers.run_cli(*args, "--seeds", "0-1", "--epochs", "1", "--lr", "1e23", "--json", "-q")
    assert result.returncode == 3, result.stderr[-3000:]
    rows = json.loads(result.stdout)
    assert [(r["seed"], r["status"]) for r in rows] == [(0, "failed"), (1, "failed")]
    assert all("SeedDiverged: seed" in r["error"] and "diverged at epoch 1" in r["error"] for r in rows)
    assert (
        result.stderr.strip().splitlines()[-1]
        == "lenet-batch train: error: train: 2 of 2 seeds failed: [0, 1]"
    )
    seeds = tmp_path / "out" / "runs" / "d" / "seeds"
    assert not list(seeds.rglob("metrics.json")) and not list(seeds.rglob("model.params"))
    stages = json.loads((tmp_path / "out" / "runs" / "d" / "run.json").read_text())["stages"]
    assert stages["train"]["status"] == "failed"


# --- a seed that did not learn: at or below chance plus 2 points after its last epoch -----------------------


@pytest.mark.parametrize("accuracy", [0.0, 0.1, 0.1199, 0.12])
def test_a_seed_at_or_below_chance_plus_2_points_after_its_last_epoch_diverged(accuracy):
    last = EpochMetrics(3, 0.5, 0.2, accuracy, 1.0)
    with pytest.raises(
        SeedDiverged, match=r"seed 5 diverged: test accuracy .* after its last epoch \(3\) is at"
    ):
        loop.check_learned(5, last)


@pytest.mark.parametrize("accuracy", [0.1201, 0.5, 0.91])
def test_a_seed_above_the_chance_line_learned(accuracy):
    loop.check_learned(5, EpochMetrics(3, 0.5, 0.2, accuracy, 1.0))  # no error


def test_the_chance_line_is_chance_plus_2_points():
    assert DIVERGED_ACCURACY == 0.12 == chance_line(10)
    assert (chance_line(2), chance_line(100)) == (0.52, 0.03)


def one_class(label: int) -> dict[str, np.ndarray]:
    """The tiny arrays with every training label set to `label`: a seed can only learn to say that class."""
    arrays = tiny_arrays()
    return {**arrays, "train_labels": np.full_like(arrays["train_labels"], label)}


@pytest.mark.parametrize("label", [0, 3, 5])
def test_a_seed_that_learned_one_class_only_diverges_naming_its_accuracy(label):
    arrays = one_class(label)
    share = float(np.mean(arrays["test_labels"] == label))  # it says `label` for every image
    assert share <= DIVERGED_ACCURACY
    expected = rf"seed 2 diverged: test accuracy {share:.4f} after its last epoch \(1\) .* did not learn"
    with pytest.raises(SeedDiverged, match=expected):
        loop.train_seed(arrays, Recipe(epochs=1), 2, mx.cpu())


def test_a_seed_that_did_not_learn_leaves_no_model_no_metrics_and_not_its_last_epoch(tmp_path):
    run = RunRef(str(tmp_path), "r")
    with pytest.raises(SeedDiverged, match="did not learn"):
        run_seed(one_class(3), data_info=DataInfo("tiny"), recipe=Recipe(epochs=2), seed=0, run=run)
    assert not storage.exists(run.metrics_json(0)) and not storage.exists(run.model_params(0))
    assert (
        load_checkpoint(run, 0, Recipe(epochs=2), DataInfo("tiny")).epoch == 1
    )  # a rerun trains the last epoch again, and says it again


def test_a_seed_resumed_from_its_last_epochs_checkpoint_at_chance_diverges():
    params = model.params_to_bytes(model.create_lenet(mx.cpu()))
    done = Checkpoint(epoch=2, params=params, history=[EpochMetrics(1, 2.3, 0.1, 0.1, 1.0)] * 2)
    with pytest.raises(SeedDiverged, match=r"after its last epoch \(1\)"):
        loop.train_seed(tiny_arrays(), Recipe(epochs=2), 4, mx.cpu(), resume=done)


@pytest.mark.slow
def test_train_with_seeds_that_do_not_learn_exits_3_naming_them(tmp_path):
    data = tmp_path / "data"
    from tests.prediction_helpers import fashion

    helpers.write_dataset(data, fashion(), n_train=2000, n_test=500)
    helpers.write_idx(data / (FILES["train_labels"] + ".gz"), np.full(2000, 5, np.uint8))
    args = ["train", "--output", str(tmp_path / "out"), "--run-id", "c", "--data", str(data), "--no-verify"]
    result = helpers.run_cli(*args, "--seeds", "0-1", "--epochs", "1", "--json", "-q")
    assert result.returncode == 3, result.stderr[-3000:]
    rows = json.loads(result.stdout)
    assert [(r["seed"], r["status"]) for r in rows] == [(0, "failed"), (1, "failed")]
    assert all(f"seed {r['seed']} diverged: test accuracy 0.0780" in r["error"] for r in rows)
    assert (
        result.stderr.strip().splitlines()[-1]
        == "lenet-batch train: error: train: 2 of 2 seeds failed: [0, 1]"
    )
