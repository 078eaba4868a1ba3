"""Helpers for the scoring tests: tiny real models (trained once per process), runs laid out, fake rows."""

import datetime as dt
import functools
import hashlib
import tempfile

import numpy as np
import pyarrow as pa

from lenet_batch.config import Recipe
from lenet_batch.data import fashion_mnist
from lenet_batch.data.batch import ImageBatch
from lenet_batch.records import DataInfo
from lenet_batch.scoring.predictor import to_record_batch
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout, RunRef
from lenet_batch.training.seed import run_seed

TINY_TRAIN = 2000  # real training images: one epoch takes about a second and beats chance clearly
TINY_TEST = 500


@functools.cache
def fashion() -> fashion_mnist.FashionMNIST:
    """The real Fashion-MNIST, loaded once per process."""
    return fashion_mnist.load(allow_download=False)


def tiny_arrays() -> dict[str, np.ndarray]:
    """The first TINY_TRAIN training and TINY_TEST test images of the real data set."""
    ds = fashion()
    return {
        "train_images": ds.train_images[:TINY_TRAIN],
        "train_labels": ds.train_labels[:TINY_TRAIN],
        "test_images": ds.test_images[:TINY_TEST],
        "test_labels": ds.test_labels[:TINY_TEST],
    }


@functools.cache
def trained(seed: int) -> tuple[bytes, dict]:
    """A LeNet-5 trained for one epoch on the tiny arrays with run_seed: (params bytes, metrics.json)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = RunRef(tmp, "tiny")
        run_seed(tiny_arrays(), data_info=DataInfo("tiny"), recipe=Recipe(epochs=1), seed=seed, run=run)
        return storage.read_bytes(run.model_params(seed)), storage.read_json(run.metrics_json(seed))


def install_run(output: str, run_id: str, seeds: list[int], options: dict | None = None) -> None:
    """Lay out finished seeds (model.params + metrics.json) of a run, as training would leave them."""
    run = Layout(output, options or {}).run(run_id)
    for seed in seeds:
        params, metrics = trained(seed)
        storage.write_bytes_atomic(run.model_params(seed), params, options)
        storage.write_json_atomic(run.metrics_json(seed), {**metrics, "run_id": run_id}, options)


def fake_batch(n: int, start: int = 0, seed: int = 0, sha: str = "f" * 64) -> pa.RecordBatch:
    """n prediction rows from random logits (no model), numbered from start."""
    rng = np.random.default_rng([seed, start])
    batch = ImageBatch(
        np.arange(start, start + n, dtype=np.int64),
        np.zeros((n, 28, 28), np.uint8),
        rng.integers(0, 10, n).astype(np.uint8),
    )
    logits = rng.normal(size=(n, 10)).astype(np.float32)
    return to_record_batch(batch, logits, sha, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def fake_batches(total: int, batch_size: int = 1000, seed: int = 0):
    """Fake prediction batches of `total` rows."""
    for start in range(0, total, batch_size):
        yield fake_batch(min(batch_size, total - start), start, seed)


def snapshot(output: str, run_id: str, seed: int, options: dict | None = None) -> tuple[str, dict]:
    """(SHA-256 of the partition file, its marker): to prove a partition was left untouched."""
    folder = RunRef(output, run_id).partition_dir(seed)
    digest = hashlib.sha256(
        storage.read_bytes(storage.join(folder, "part-00000.parquet"), options)
    ).hexdigest()
    return digest, storage.read_json(storage.join(folder, "_COMMITTED.json"), options)
