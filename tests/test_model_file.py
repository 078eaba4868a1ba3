"""The model file format: a model.params written before Gluon's save_parameters took over still loads,
scores the same bits, and is what we write today, byte for byte.

tests/data/lenet_v1.params is LeNet-5 as seeded with 0 and written by the writer of commit 7f44937
(mx.nd.save of the structural names); lenet_v1_logits.npy holds what that code predicted with it for
IMAGES.
"""

import os

import mxnet as mx
import numpy as np
import pytest

from lenet_batch.errors import ModelFileError
from lenet_batch.training import inference, loop, model

CPU = mx.cpu()
DATA = os.path.join(os.path.dirname(__file__), "data")
IMAGES = np.random.default_rng(0).integers(0, 256, size=(8, 28, 28), dtype=np.uint8)


def fixture_bytes() -> bytes:
    with open(os.path.join(DATA, "lenet_v1.params"), "rb") as f:
        return f.read()


def test_a_model_file_of_the_old_writer_loads_and_predicts_the_same_bits():
    net = model.load_lenet(fixture_bytes(), "lenet_v1.params", CPU)
    expected = np.load(os.path.join(DATA, "lenet_v1_logits.npy"))
    np.testing.assert_array_equal(inference.predict_logits(net, IMAGES, CPU), expected)


def test_todays_writer_writes_the_old_format_byte_for_byte():
    loop.seed_everything(0)
    assert model.params_to_bytes(model.create_lenet(CPU, hybridize=False)) == fixture_bytes()
    loaded = model.load_lenet(fixture_bytes(), "lenet_v1.params", CPU)
    assert model.params_to_bytes(loaded) == fixture_bytes()  # a load and a save change no bit


def _rewritten(change) -> bytes:
    """The fixture's arrays with `change(arrays)` applied, saved with MXNet's own writer."""
    arrays = mx.nd.load_frombuffer(fixture_bytes())
    change(arrays)
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"lenet-{os.getpid()}.params")
    try:
        mx.nd.save(path, arrays)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda a: a.pop("7.bias"),
            r"^m.params: parameters do not match LeNet-5 \(missing \['7.bias'\], unexpected \[\]\)$",
        ),
        (lambda a: a.update(extra=mx.nd.zeros(3)), r"^m.params: .*\(missing \[\], unexpected \['extra'\]\)$"),
        (
            lambda a: a.update({"0.bias": mx.nd.zeros(7)}),
            r"^m.params: 0.bias has shape \(7,\), LeNet-5 needs \(6,\)$",
        ),
        (
            lambda a: a.update({"2.weight": a["2.weight"].astype("float16")}),
            r"^m.params: 2.weight has dtype float16, expected float32$",
        ),
        (
            lambda a: a.update({"6.bias": a["6.bias"].astype("float64")}),
            r"^m.params: 6.bias has dtype float64, expected float32$",
        ),
    ],
)
def test_names_shapes_and_dtypes_are_checked_by_us_in_one_line(change, message):
    with pytest.raises(ModelFileError, match=message):
        model.load_lenet(_rewritten(change), "m.params", CPU)
