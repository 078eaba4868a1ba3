"""IDX image (and label) files to score, read as a stream in bounded batches: gzip or raw, local or remote."""

import contextlib
import gzip
import logging
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from lenet_batch.data import idx
from lenet_batch.data.batch import HEIGHT, IMAGE_BYTES, WIDTH, ImageBatch, check_labels, check_not_empty
from lenet_batch.errors import DataError
from lenet_batch.store import storage
from lenet_batch.store.backends import StorageOptions

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _idx_stream(uri: str, options: StorageOptions | None) -> Iterator[BinaryIO]:
    """The decompressed byte stream of an IDX file (gzip detected from its magic)."""
    with storage.open_for_reading(uri, options) as raw:
        compressed = raw.read(2) == idx.GZIP_MAGIC
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") if compressed else contextlib.nullcontext(raw) as stream:
            yield stream


def read_exact(stream: BinaryIO, n: int, uri: str) -> bytes:
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
    """Read an IDX header (idx.parse_header checks it) that must be unsigned bytes in ndim dimensions."""
    first = read_exact(stream, 4, uri)
    dtype, shape, _ = idx.parse_header(first + read_exact(stream, idx.header_size(first) - 4, uri), uri)
    if dtype != np.uint8 or len(shape) != ndim:
        raise DataError(
            f"{uri}: expected an IDX file of unsigned bytes with {ndim} dimensions "
            f"(magic 000008{ndim:02x}), got magic {first.hex()}"
        )
    return shape


def _idx_shapes(images_uri: str, labels_uri: str | None, options: StorageOptions | None) -> int:
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


def idx_batches(
    images_uri: str, labels_uri: str | None, batch_size: int, options: StorageOptions | None
) -> Iterator[ImageBatch]:
    """Validate the headers now; then stream the images (and labels) in batches of at most batch_size."""
    n = _idx_shapes(images_uri, labels_uri, options)
    check_not_empty(n, images_uri)
    log.info(
        "scoring %d images from IDX %s%s", n, images_uri, f" (labels {labels_uri})" if labels_uri else ""
    )
    return _idx_read(images_uri, labels_uri, n, batch_size, options)


def _idx_read(
    images_uri: str, labels_uri: str | None, n: int, batch_size: int, options: StorageOptions | None
) -> Iterator[ImageBatch]:
    with contextlib.ExitStack() as stack:
        images = stack.enter_context(_idx_stream(images_uri, options))
        _idx_header(images, images_uri, 3)
        labels = stack.enter_context(_idx_stream(labels_uri, options)) if labels_uri else None
        if labels is not None:
            _idx_header(labels, labels_uri, 1)
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            pixels = np.frombuffer(read_exact(images, count * IMAGE_BYTES, images_uri), np.uint8)
            batch_labels = None
            if labels is not None:
                batch_labels = np.frombuffer(read_exact(labels, count, labels_uri), np.uint8)
                check_labels(batch_labels, labels_uri, start)
            ids = np.arange(start, start + count, dtype=np.int64)
            yield ImageBatch(ids, pixels.reshape(count, HEIGHT, WIDTH), batch_labels)
        for stream, uri in ((images, images_uri), (labels, labels_uri)):
            if stream is not None and stream.read(1):
                raise DataError(f"{uri}: has trailing bytes after the {n} items its header gives")
