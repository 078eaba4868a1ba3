"""Image sets to score, streamed in bounded batches: the Fashion-MNIST test split, IDX, .npy or Parquet.

Every source is validated before the first batch (a bad file fails before any output is staged) and then
read piecewise, so memory is bounded by the batch size whatever the size of the input.
"""

import contextlib
import logging
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from lenet_batch.config import INFER_BATCH_SIZE
from lenet_batch.data import fashion_mnist, idx
from lenet_batch.data.batch import ImageBatch, check_images
from lenet_batch.data.idx_input import idx_batches
from lenet_batch.data.npy_input import NPY_MAGIC, npy_batches
from lenet_batch.data.parquet_input import PARQUET_MAGIC, parquet_batches
from lenet_batch.errors import ConfigError, DataError, InputError
from lenet_batch.redaction import redact_uri
from lenet_batch.store import storage
from lenet_batch.store.backends import StorageOptions

log = logging.getLogger(__name__)

TEST_SPLIT = "fashion-mnist:test"


@dataclass(frozen=True)
class ImageSource:
    """What to score: an image file (IDX, .npy, Parquet) with optional IDX labels, or the test split."""

    uri: str | None = None  # None: the Fashion-MNIST test split
    labels_uri: str | None = None
    data_uri: str | None = None  # where the test split comes from (--data), when uri is None
    verify: bool = True
    batch_size: int = INFER_BATCH_SIZE
    input_name: str | None = None  # the partition name of a custom input (default: from its file name)
    digest: str | None = None  # of what is scored, recorded in each partition's marker (pipeline.run_data)
    data_source: str | None = None  # the test split's folder as the run recorded it (masked), for the marker

    @property
    def name(self) -> str:
        """How run.json, the logs and the partition marker name the input (credentials masked)."""
        return redact_uri(self.uri) if self.uri else TEST_SPLIT

    @property
    def partition_name(self) -> str | None:
        """None for the test split (the run's evaluation); else the name its predictions are kept under."""
        if not self.uri:
            return None
        return self.input_name or name_from_uri(self.uri)

    def batches(self, options: StorageOptions | None) -> Iterator[ImageBatch]:
        """The source's batches; the input is opened and validated now."""
        return iter_batches(
            self.uri,
            self.batch_size,
            options,
            data_uri=self.data_uri,
            verify=self.verify,
            labels_uri=self.labels_uri,
        )


def iter_batches(
    input_uri: str | None,
    batch_size: int,
    options: StorageOptions | None = None,
    dataset_loader: Callable[..., Any] = fashion_mnist.load,
    *,
    data_uri: str | None = None,
    verify: bool = True,
    labels_uri: str | None = None,
) -> Iterator[ImageBatch]:
    """Batches of at most batch_size images from input_uri (None or "": the Fashion-MNIST test split).

    The input is opened and validated now (DataError naming the file); its pixels are read lazily.
    `dataset_loader(data_uri, options, verify)` supplies the test split; `labels_uri` is an IDX label file
    that goes with an IDX image file.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    if not input_uri:
        dataset = dataset_loader(data_uri, options, verify)
        return array_batches(dataset.test_images, dataset.test_labels, batch_size)
    with input_errors():
        kind = sniff(input_uri, options)
        if labels_uri and kind != "idx":
            raise ConfigError(f"labels file {labels_uri} goes with IDX images only; {input_uri} is {kind}")
        if kind == "idx":
            batches = idx_batches(input_uri, labels_uri, batch_size, options)
        elif kind == "npy":
            batches = npy_batches(input_uri, batch_size, options)
        else:
            batches = parquet_batches(input_uri, batch_size, options)
    return _checked(bounded(batches, batch_size))


@contextlib.contextmanager
def input_errors() -> Iterator[None]:
    """A malformed input file or row is bad input (InputError: exit 2), even when met inside a Ray task."""
    try:
        yield
    except InputError:
        raise
    except DataError as exc:
        raise InputError(str(exc)) from None


def _checked(batches: Iterator[ImageBatch]) -> Iterator[ImageBatch]:
    with input_errors():
        yield from batches


def name_from_uri(uri: str) -> str:
    """A partition name from an input's file name: 'images.npy' -> 'images' (letters, digits, . _ -)."""
    base = posixpath.basename(uri.split("::")[-1].split("?")[0].rstrip("/"))
    base = base[:-3] if base.endswith(".gz") else base
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).lstrip("._-")[:64]
    return name or "input"


def array_batches(
    images: np.ndarray, labels: np.ndarray | None, batch_size: int, first_id: int = 0
) -> Iterator[ImageBatch]:
    """Batches that are views of in-memory arrays (e.g. the test split from Ray's object store)."""
    check_images(images, "images")
    for start in range(0, len(images), batch_size):
        stop = min(start + batch_size, len(images))
        yield ImageBatch(
            np.arange(first_id + start, first_id + stop, dtype=np.int64),
            images[start:stop],
            None if labels is None else labels[start:stop],
        )


def bounded(batches: Iterator[ImageBatch], batch_size: int) -> Iterator[ImageBatch]:
    """Enforce the bound: a batch larger than batch_size (e.g. from a reader's own chunking) is split."""
    for batch in batches:
        for start in range(0, len(batch), batch_size):
            stop = start + batch_size
            labels = None if batch.labels is None else batch.labels[start:stop]
            yield ImageBatch(batch.sample_ids[start:stop], batch.images[start:stop], labels)


def sniff(uri: str, options: StorageOptions | None) -> str:
    """'idx', 'npy' or 'parquet', from the file's first bytes (not its name)."""
    with storage.open_stream(uri, options) as f:
        head = f.read(8)  # the start of a file reads even where a server refuses ranges
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith(idx.GZIP_MAGIC) or head.startswith(b"\x00\x00\x08"):
        return "idx"
    raise DataError(f"{uri}: not an IDX (.gz or raw), .npy or Parquet file (starts with {head.hex()})")
