"""LeNet-5 shape and size, safe parameter loading, reproducible training, resume equals uninterrupted."""

import pickle

import mxnet as mx
import numpy as np
import pytest

from lenet_batch.cluster.resources import context_for
from lenet_batch.config import Recipe
from lenet_batch.errors import ModelFileError
from lenet_batch.training import loop as train
from lenet_batch.training import model

CPU = mx.cpu()


@pytest.fixture(scope="module")
def tiny_arrays(fashion_mnist):
    """2,048 training and 512 test images of the real data."""
    return {
        "train_images": fashion_mnist.train_images[:2048],
        "train_labels": fashion_mnist.train_labels[:2048],
        "test_images": fashion_mnist.test_images[:512],
        "test_labels": fashion_mnist.test_labels[:512],
    }


def test_lenet_output_shape_and_parameter_count():
    net = model.create_lenet(CPU)
    assert net(mx.nd.zeros((5, 1, 28, 28))).shape == (5, 10)
    # conv 6@5x5: 156, conv 16@3x3: 880, dense 400->120: 48,120, 120->84: 10,164, 84->10: 850
    assert model.parameter_count(net) == 60_170


def test_context_from_ray_assignment():
    assert context_for([]) == ("cpu", 0)
    assert context_for([3], "3") == ("gpu", 0)  # Ray narrowed CUDA_VISIBLE_DEVICES to the assigned GPU
    assert context_for(["2"], "1,2") == ("gpu", 1)
    assert context_for([1], None) == ("gpu", 1)  # no narrowing: the id is the device index


def test_mxnet_here_is_the_cpu_build():
    assert not model.mxnet_has_cuda()


def test_save_then_load_gives_identical_predictions(tiny_arrays):
    net = model.create_lenet(CPU)
    loaded = model.load_lenet(model.params_to_bytes(net), "model.params", CPU)
    images = tiny_arrays["test_images"]
    np.testing.assert_array_equal(
        train.predict_logits(net, images, CPU), train.predict_logits(loaded, images, CPU)
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (pickle.dumps({"0.weight": 1}), "not an MXNet parameter file"),
        (b"", "not an MXNet parameter file"),
        ("truncated", "damaged or truncated"),
    ],
)
def test_bad_parameter_files_are_rejected(payload, message):
    good = model.params_to_bytes(model.create_lenet(CPU))
    data = good[: len(good) // 2] if payload == "truncated" else payload
    with pytest.raises(ModelFileError, match=message):
        model.load_lenet(data, "bad.params", CPU)


def test_pickle_payload_is_never_executed(tmp_path):
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with pytest.raises(ModelFileError):
        model.load_lenet(pickle.dumps(Exploit()), "evil.params", CPU)
    assert not marker.exists()


def test_wrong_shapes_are_rejected_by_our_own_check():
    net = model.build_lenet()
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 32, 32)))  # 32x32 input: the first dense layer gets another shape
    with pytest.raises(ModelFileError, match=r"5.weight has shape \(120, 576\)"):
        model.load_lenet(model.params_to_bytes(net), "other.params", CPU)


def _params(net_bytes):
    return {k: v.asnumpy() for k, v in mx.nd.load_frombuffer(net_bytes).items()}


def test_same_seed_is_bit_identical_and_other_seeds_differ(tiny_arrays):
    recipe = Recipe(epochs=1)
    a, hist_a = train.train_seed(tiny_arrays, recipe, 7, CPU)
    b, hist_b = train.train_seed(tiny_arrays, recipe, 7, CPU)
    c, _ = train.train_seed(tiny_arrays, recipe, 8, CPU)
    assert a == b and hist_a[0].train_loss == hist_b[0].train_loss
    assert any(
        not np.array_equal(x, y) for x, y in zip(_params(a).values(), _params(c).values(), strict=True)
    )


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(tiny_arrays):
    recipe = Recipe(epochs=3)
    checkpoints = {}
    full, history = train.train_seed(
        tiny_arrays, recipe, 3, CPU, on_epoch=lambda h, p: checkpoints.setdefault(h[-1].epoch, (list(h), p))
    )
    hist1, params1 = checkpoints[1]
    resumed, resumed_history = train.train_seed(
        tiny_arrays, recipe, 3, CPU, resume=train.Checkpoint(1, params1, hist1)
    )
    assert resumed == full
    assert [m.train_loss for m in resumed_history] == [m.train_loss for m in history]


@pytest.mark.slow
def test_one_epoch_on_the_full_training_set_reaches_80_percent(fashion_mnist):
    # Seeds 0-5 gave 0.8164, 0.8100, 0.8008, 0.8014, 0.8105, 0.8176 here (OMP_NUM_THREADS=1).
    _, history = train.train_seed(fashion_mnist.arrays(), Recipe(epochs=1), 0, CPU)
    assert history[0].test_accuracy >= 0.80
