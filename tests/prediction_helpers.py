"""Helpers for the scoring tests: tiny real models (trained once per process), runs laid out, fake rows."""

import datetime as dt
import functools
import hashlib
import tempfile

import numpy as np
import pyarrow as pa

from lenet_batch import data, storage
from lenet_batch.config import Recipe
from lenet_batch.images import ImageBatch
from lenet_batch.predict import to_record_batch
from lenet_batch.seed_run import run_seed
from lenet_batch.storage import Layout

TINY_TRAIN = 2000  # real training images: one epoch takes about a second and beats chance clearly
TINY_TEST = 500


@functools.cache
def fashion() -> data.FashionMNIST:
    """The real Fashion-MNIST, loaded once per process."""
    return data.load(allow_download=False)


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
        run_seed(tiny_arrays(), {"source": "tiny"}, Recipe(epochs=1), seed, tmp, "tiny", None)
        layout = Layout(tmp)
        return storage.read_bytes(layout.model_params("tiny", seed)), storage.read_json(
            layout.metrics_json("tiny", seed)
        )


def install_run(output: str, run_id: str, seeds: list[int], options: dict | None = None) -> None:
    """Lay out finished seeds (model.params + metrics.json) of a run, as training would leave them."""
    layout = Layout(output)
    for seed in seeds:
        params, metrics = trained(seed)
        storage.write_bytes_atomic(layout.model_params(run_id, seed), params, options)
        storage.write_json_atomic(layout.metrics_json(run_id, seed), {**metrics, "run_id": run_id}, options)


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
    layout = Layout(output)
    folder = layout.partition_dir(run_id, seed)
    digest = hashlib.sha256(
        storage.read_bytes(storage.join(folder, "part-00000.parquet"), options)
    ).hexdigest()
    return digest, storage.read_json(storage.join(folder, "_COMMITTED.json"), options)
