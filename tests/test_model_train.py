"""LeNet-5 shape and size, safe parameter loading, reproducible training, resume equals uninterrupted."""

import os
import pickle
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from lenet_batch.cluster.resources import context_for
from lenet_batch.config import Recipe
from lenet_batch.errors import ModelFileError
from lenet_batch.training import inference, model
from lenet_batch.training import loop as train

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
        inference.predict_logits(net, images, CPU), inference.predict_logits(loaded, images, CPU)
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
    recipe = Recipe(epochs=1, lr=0.05)  # both seeds learn in one epoch of so few images (not at chance)
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


ONE_EPOCH = """
import mxnet as mx
from lenet_batch import provenance
from lenet_batch.config import Recipe
from lenet_batch.data import fashion_mnist
from lenet_batch.training import loop
_, history = loop.train_seed(fashion_mnist.load(allow_download=False).arrays(), Recipe(epochs=1), 0, mx.cpu())
print(provenance.machine().isa_class, f"{history[0].test_accuracy:.4f}")
"""


@pytest.mark.slow
def test_one_epoch_of_seed_0_gives_the_readme_figure_of_each_isa_class_this_machine_runs():
    from tests import readme

    rows = [line.split() for line in readme.block("one-epoch").splitlines()[1:]]
    figures = {row[0]: row[1] for row in rows}  # isa class -> seed 0
    caps = {"avx512_core": None, "avx2": "AVX2"}
    assert set(figures) == set(caps)
    ran = []
    for isa_class, cap in caps.items():
        env = {k: v for k, v in os.environ.items() if k != "DNNL_MAX_CPU_ISA"} | {"OMP_NUM_THREADS": "1"}
        env |= {"DNNL_MAX_CPU_ISA": cap} if cap else {}
        done = subprocess.run([sys.executable, "-c", ONE_EPOCH], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        got_class, accuracy = done.stdout.split()
        assert float(accuracy) >= 0.80
        if got_class == isa_class:  # this machine runs the class (an AVX2 CPU cannot run avx512_core)
            assert accuracy == figures[isa_class], f"{isa_class}: seed 0 gave {accuracy}"
            ran.append(isa_class)
    assert ran, "no ISA class of the README ran here"
