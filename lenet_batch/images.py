"""Image sets to score, streamed in bounded batches: the Fashion-MNIST test split, IDX, .npy or Parquet.

Every source is validated before the first batch (a bad file fails before any output is staged) and then
read piecewise, so memory is bounded by the batch size whatever the size of the input.
"""

import contextlib
import gzip
import logging
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np

from lenet_batch import data, idx, storage
from lenet_batch.errors import ConfigError, DataError
from lenet_batch.image_batch import (  # noqa: F401  (re-exported: images' public API)
    HEIGHT,
    IMAGE_BYTES,
    WIDTH,
    ImageBatch,
    check_images,
    check_labels,
)
from lenet_batch.image_parquet import PARQUET_MAGIC, parquet_batches

log = logging.getLogger(__name__)

NPY_MAGIC = b"\x93NUMPY"


def iter_batches(
    input_uri: str | None,
    batch_size: int,
    options: dict | None = None,
    dataset_loader: Callable[..., Any] = data.load,
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
    kind = sniff(input_uri, options)
    if labels_uri and kind != "idx":
        raise ConfigError(f"labels file {labels_uri} goes with IDX images only; {input_uri} is {kind}")
    if kind == "idx":
        batches = _idx_batches(input_uri, labels_uri, batch_size, options)
    elif kind == "npy":
        batches = _npy_batches(input_uri, batch_size, options)
    else:
        batches = parquet_batches(input_uri, batch_size, options)
    return bounded(batches, batch_size)


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


def sniff(uri: str, options: dict | None) -> str:
    """'idx', 'npy' or 'parquet', from the file's first bytes (not its name)."""
    fs, path = storage.get_fs(uri, options)
    with storage.storage_errors(uri), fs.open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith(idx.GZIP_MAGIC) or head.startswith(b"\x00\x00\x08"):
        return "idx"
    raise DataError(f"{uri}: not an IDX (.gz or raw), .npy or Parquet file (starts with {head.hex()})")


# --- IDX (.gz or raw), read as a stream ------------------------------------------------------------------


@contextlib.contextmanager
def _idx_stream(uri: str, options: dict | None) -> Iterator[BinaryIO]:
    """The decompressed byte stream of an IDX file (gzip detected from its magic)."""
    fs, path = storage.get_fs(uri, options)
    with storage.storage_errors(uri), fs.open(path, "rb") as raw:
        compressed = raw.read(2) == idx.GZIP_MAGIC
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") if compressed else contextlib.nullcontext(raw) as stream:
            yield stream


def _read_exact(stream: BinaryIO, n: int, uri: str) -> bytes:
    """Exactly n bytes, or a DataError for a truncated or damaged file."""
    chunks, left = [], n
    try:
        while left:
            chunk = stream.read(left)
            if not chunk:
                raise DataError(f"{uri}: truncated: ended {left} bytes before the size its header gives")
            chunks.append(chunk)
            left -= len(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{uri}: damaged or truncated gzip data ({exc})") from None
    return b"".join(chunks)


def _idx_header(stream: BinaryIO, uri: str, ndim: int) -> tuple[int, ...]:
    """Read and check an IDX header of unsigned bytes with ndim dimensions; returns the shape."""
    magic = _read_exact(stream, 4, uri)
    if magic[:2] != b"\x00\x00" or magic[2] != 0x08 or magic[3] != ndim:
        raise DataError(
            f"{uri}: expected an IDX file of unsigned bytes with {ndim} dimensions "
            f"(magic 000008{ndim:02x}), got magic {magic.hex()}"
        )
    return tuple(int(d) for d in np.frombuffer(_read_exact(stream, 4 * ndim, uri), ">u4"))


def _idx_shapes(images_uri: str, labels_uri: str | None, options: dict | None) -> int:
    """Validate the headers of the image (and label) file; returns the image count."""
    with _idx_stream(images_uri, options) as stream:
        shape = _idx_header(stream, images_uri, 3)
    if shape[1:] != (HEIGHT, WIDTH):
        raise DataError(
            f"{images_uri}: images must be {HEIGHT}x{WIDTH}, the header says {shape[1]}x{shape[2]}"
        )
    if labels_uri:
        with _idx_stream(labels_uri, options) as stream:
            (count,) = _idx_header(stream, labels_uri, 1)
        if count != shape[0]:
            raise DataError(f"{images_uri} has {shape[0]} images but {labels_uri} has {count} labels")
    return shape[0]


def _idx_batches(
    images_uri: str, labels_uri: str | None, batch_size: int, options: dict | None
) -> Iterator[ImageBatch]:
    n = _idx_shapes(images_uri, labels_uri, options)
    log.info(
        "scoring %d images from IDX %s%s", n, images_uri, f" (labels {labels_uri})" if labels_uri else ""
    )
    return _idx_read(images_uri, labels_uri, n, batch_size, options)


def _idx_read(
    images_uri: str, labels_uri: str | None, n: int, batch_size: int, options: dict | None
) -> Iterator[ImageBatch]:
    with contextlib.ExitStack() as stack:
        images = stack.enter_context(_idx_stream(images_uri, options))
        _idx_header(images, images_uri, 3)
        labels = stack.enter_context(_idx_stream(labels_uri, options)) if labels_uri else None
        if labels is not None:
            _idx_header(labels, labels_uri, 1)
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            pixels = np.frombuffer(_read_exact(images, count * IMAGE_BYTES, images_uri), np.uint8)
            batch_labels = None
            if labels is not None:
                batch_labels = np.frombuffer(_read_exact(labels, count, labels_uri), np.uint8)
                check_labels(batch_labels, labels_uri, start)
            ids = np.arange(start, start + count, dtype=np.int64)
            yield ImageBatch(ids, pixels.reshape(count, HEIGHT, WIDTH), batch_labels)
        for stream, uri in ((images, images_uri), (labels, labels_uri)):
            if stream is not None and stream.read(1):
                raise DataError(f"{uri}: has trailing bytes after the {n} items its header gives")


# --- NumPy .npy: memory-mapped locally, ranged reads elsewhere ----------------------------------------------


def _npy_header(f: BinaryIO, uri: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of an open .npy file, left positioned at the data."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(f)
    except ValueError as exc:
        raise DataError(f"{uri}: not a readable .npy file ({exc})") from None
    raise DataError(f"{uri}: .npy format version {version} is not supported (use np.save)")


def _check_npy(uri: str, shape: tuple[int, ...], fortran_order: bool, dtype: np.dtype) -> None:
    if dtype != np.uint8 or len(shape) != 3 or tuple(shape[1:]) != (HEIGHT, WIDTH):
        raise DataError(
            f"{uri}: a .npy input must be uint8 of shape (N, {HEIGHT}, {WIDTH}), got {dtype} {shape}"
        )
    if fortran_order:
        raise DataError(f"{uri}: the array is stored in Fortran order; save np.ascontiguousarray(array)")


def _npy_batches(uri: str, batch_size: int, options: dict | None) -> Iterator[ImageBatch]:
    fs, path = storage.get_fs(uri, options)
    with storage.storage_errors(uri), fs.open(path, "rb") as f:
        shape, fortran_order, dtype = _npy_header(f, uri)
        offset = f.tell()
        size = fs.size(path)
    _check_npy(uri, shape, fortran_order, dtype)
    expected = offset + shape[0] * IMAGE_BYTES
    if size != expected:
        kind = "truncated" if size < expected else "has trailing bytes"
        raise DataError(f"{uri}: {kind}: {size} bytes, its header implies {expected}")
    log.info("scoring %d images from .npy %s", shape[0], uri)
    if storage.is_local(uri):
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        return _npy_mapped(array, batch_size)
    return _npy_ranged(uri, offset, shape[0], batch_size, options)


def _npy_mapped(array: np.ndarray, batch_size: int) -> Iterator[ImageBatch]:
    # Copy each slice out of the map: the batch owns its memory and the page cache can drop the rest.
    for batch in array_batches(array, None, batch_size):
        yield ImageBatch(batch.sample_ids, np.array(batch.images), None)


def _npy_ranged(uri: str, offset: int, n: int, batch_size: int, options: dict | None) -> Iterator[ImageBatch]:
    fs, path = storage.get_fs(uri, options)
    with storage.storage_errors(uri), fs.open(path, "rb") as f:
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            f.seek(offset + start * IMAGE_BYTES)
            pixels = np.frombuffer(_read_exact(f, count * IMAGE_BYTES, uri), np.uint8)
            yield ImageBatch(
                np.arange(start, start + count, dtype=np.int64), pixels.reshape(count, HEIGHT, WIDTH), None
            )
