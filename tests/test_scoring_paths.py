"""The faster scoring path gives today's predictions; scoring in the driver equals scoring on Ray."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import numpy as np
import pyarrow.parquet as pq
import pytest

from lenet_batch.config import Recipe
from lenet_batch.data.inputs import array_batches
from lenet_batch.pipeline.local_scoring import pin_threads
from lenet_batch.scoring.predictor import Predictor, class_scores
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.training import inference, loop, model
from tests import helpers
from tests.prediction_helpers import fashion, install_run, trained
from tests.probe_helpers import cli


def todays_logits(net, images: np.ndarray, recipe: Recipe) -> np.ndarray:
    """The path before this change: pixels looked up in MXNet (take), 256 images a forward pass."""
    ctx, table = mx.cpu(), loop.pixel_table(recipe, mx.cpu())
    outs = [
        net(loop._normalised(inference.device_array(images[i : i + 256], ctx), table)).asnumpy()
        for i in range(0, len(images), 256)
    ]
    return np.concatenate(outs)


def todays_softmax(logits: np.ndarray) -> np.ndarray:
    """The row-wise float32 softmax the predictor computed before this change."""
    z = logits.astype(np.float32) - logits.max(axis=1, keepdims=True).astype(np.float32)
    e = np.exp(z, dtype=np.float32)
    return e / e.sum(axis=1, keepdims=True, dtype=np.float32)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_faster_path_predicts_as_today_on_the_test_split(seed):
    params, metrics = trained(seed)
    net = model.load_lenet(params, "model", mx.cpu())
    images, recipe = fashion().test_images, Recipe(**metrics["recipe"])
    before, after = (
        todays_logits(net, images, recipe),
        inference.predict_logits(net, images, mx.cpu(), recipe),
    )
    assert after.shape == before.shape == (10_000, 10)
    assert np.array_equal(after.argmax(axis=1), before.argmax(axis=1))
    assert float(np.abs(after - before).max()) <= 1e-5


@pytest.mark.parametrize("scale", [0.01, 1.0, 8.0, 80.0])
def test_class_scores_have_the_bits_of_a_row_wise_softmax(scale):
    rng = np.random.default_rng(int(scale * 100))
    logits = (rng.normal(size=(5000, 10)) * scale).astype(np.float32)
    logits[:10] = logits[:10].round()  # ties between classes: argmax takes the first, as before
    prediction, confidence, probabilities = class_scores(logits)
    reference = todays_softmax(logits)
    assert probabilities.dtype == np.float32 and np.array_equal(probabilities, reference)
    assert np.array_equal(confidence, reference.max(axis=1))
    assert prediction.dtype == np.int32 and np.array_equal(prediction, logits.argmax(axis=1))
    assert [a.shape for a in class_scores(logits[:0])] == [(0,), (0,), (0, 10)]


def test_overlapped_scoring_gives_the_rows_of_scoring_batch_by_batch():
    params, _ = trained(0)
    predictor = Predictor(params, "model", mx.cpu())
    images, labels = fashion().test_images[:2500], fashion().test_labels[:2500]
    overlapped = list(predictor.score(array_batches(images, labels, 700)))
    one_by_one = [predictor(b) for b in array_batches(images, labels, 700)]
    assert [r.num_rows for r in overlapped] == [700, 700, 700, 400]
    assert all(a.equals(b) for a, b in zip(overlapped, one_by_one, strict=True))
    assert list(predictor.score(iter([]))) == []


def test_threads_are_pinned_only_before_mxnet_loads():
    # This process imported MXNet with OMP_NUM_THREADS=1 (conftest): only 1 thread can be promised.
    assert os.environ["OMP_NUM_THREADS"] == "1" and "mxnet" in sys.modules
    assert pin_threads(1) and not pin_threads(2)
    fresh = (
        "import os, sys\nfrom lenet_batch.pipeline.local_scoring import pin_threads\n"
        "ok = pin_threads(3)\nimport mxnet\n"
        "print(ok, os.environ['OMP_NUM_THREADS'], os.environ['MXNET_CPU_WORKER_NTHREADS'], pin_threads(2))"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", fresh], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["True", "3", "1", "False"]


def _infer(output: Path, data_dir: str, *extra: str, env: dict | None = None):
    args = ("infer", "--output", str(output), "--run-id", "r", "--data", data_dir, "--no-verify", *extra)
    return cli(*args, env=env)


def test_infer_of_a_local_run_scores_in_the_driver_without_ray(tmp_path, small_data_dir):
    install_run(str(tmp_path), "r", [0, 1])
    code, out, err, heavy = _infer(tmp_path, small_data_dir)
    assert code == 0, err[-3000:]
    assert heavy == ["mxnet"] and "scoring 2 seeds in this process" in err
    assert [line.split()[:3] for line in out.splitlines()[1:]] == [
        ["0", "scored", "2000"],
        ["1", "scored", "2000"],
    ]
    marker = storage.read_json(str(Path(RunRef(str(tmp_path), "r").partition_dir(1)) / "_COMMITTED.json"))
    assert marker["omp_num_threads"] == "1" and marker["rows"] == 2000


def test_a_seed_failing_in_the_driver_is_an_error_line_even_with_q(tmp_path, small_data_dir):
    install_run(str(tmp_path), "r", [0, 1])
    run = RunRef(str(tmp_path), "r")
    storage.write_bytes_atomic(run.model_params(1), b"not a parameter file")  # its digest no longer matches
    code, _, err, _ = _infer(tmp_path, small_data_dir, "-q")
    assert code == 3, err[-3000:]
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "seed 1: not scored: ModelFileError" in errors[0], err[-3000:]


def _tables(output: Path) -> dict[int, tuple]:
    """Each seed's predictions without scored_at, and its marker's thread count."""
    run = RunRef(str(output), "r")
    found = {}
    for seed in (0, 1):
        folder = Path(run.partition_dir(seed))
        table = pq.read_table(folder / "part-00000.parquet").drop_columns(["scored_at"])
        found[seed] = (table, storage.read_json(str(folder / "_COMMITTED.json"))["omp_num_threads"])
    return found


@pytest.mark.slow
def test_scoring_in_the_driver_and_on_ray_writes_the_same_rows(ray_cluster, tmp_path, small_data_dir):
    install_run(str(tmp_path), "r", [0, 1])
    env = {k: v for k, v in ray_cluster.env().items() if k != "OMP_NUM_THREADS"}
    # Two threads a seed: the driver must set them before MXNet loads, as the Ray task's runtime_env does.
    code, _, err, heavy = _infer(tmp_path, small_data_dir, "--cpus-per-seed", "2", env=env)
    assert code == 0 and heavy == ["mxnet"], err[-3000:]
    in_driver = _tables(tmp_path)
    shutil.rmtree(tmp_path / "predictions")
    extra = ("--cpus-per-seed", "2", "--address", ray_cluster.address)
    code, _, err, heavy = _infer(tmp_path, small_data_dir, *extra, env=env)
    assert code == 0 and "ray" in heavy and "scoring 2 seeds in this process" not in err, err[-3000:]
    on_ray = _tables(tmp_path)
    for seed in (0, 1):
        assert in_driver[seed][1] == on_ray[seed][1] == "2"
        assert in_driver[seed][0].num_rows == 2000 and in_driver[seed][0].equals(on_ray[seed][0])


WARM_THEN_TRAIN = """
import hashlib, sys
import mxnet as mx
from lenet_batch.config import Recipe
from lenet_batch.training.loop import train_seed
from tests.prediction_helpers import tiny_arrays
if sys.argv[1] == "warm":
    from lenet_batch.cluster.warmup import warm_up
    warm_up()
params, _ = train_seed(tiny_arrays(), Recipe(epochs=1), 5, mx.cpu())
print(hashlib.sha256(params).hexdigest())
"""


def test_a_warmed_worker_trains_the_same_bits_as_a_cold_one():
    digests = [
        subprocess.run(
            [sys.executable, "-c", WARM_THEN_TRAIN, mode], capture_output=True, text=True, cwd=helpers.REPO
        ).stdout.strip()
        for mode in ("warm", "cold")
    ]
    assert len(digests[0]) == 64 and digests[0] == digests[1]
