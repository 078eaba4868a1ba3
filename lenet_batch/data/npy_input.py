"""NumPy .npy image sets to score (uint8, N x 28 x 28): memory-mapped locally, ranged reads elsewhere."""

import logging
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from lenet_batch.data.batch import HEIGHT, IMAGE_BYTES, WIDTH, ImageBatch, check_not_empty
from lenet_batch.data.idx_input import read_exact
from lenet_batch.errors import DataError
from lenet_batch.store import storage
from lenet_batch.store.backends import StorageOptions

log = logging.getLogger(__name__)

NPY_MAGIC = b"\x93NUMPY"


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


def npy_batches(uri: str, batch_size: int, options: StorageOptions | None) -> Iterator[ImageBatch]:
    """Validate the header and size now; then yield batches of at most batch_size images."""
    fs, path = storage.get_fs(uri, options)
    with storage.open_for_reading(uri, options) as f:
        shape, fortran_order, dtype = _npy_header(f, uri)
        offset = f.tell()
        size = fs.size(path)
    _check_npy(uri, shape, fortran_order, dtype)
    expected = offset + shape[0] * IMAGE_BYTES
    if size != expected:
        kind = "truncated" if size < expected else "has trailing bytes"
        raise DataError(f"{uri}: {kind}: {size} bytes, its header implies {expected}")
    check_not_empty(shape[0], uri)
    log.info("scoring %d images from .npy %s", shape[0], uri)
    if storage.is_local(uri):
        return _npy_mapped(uri, offset, shape[0], batch_size, options)
    return _npy_ranged(uri, offset, shape[0], batch_size, options)


def _npy_mapped(
    uri: str, offset: int, n: int, batch_size: int, options: StorageOptions | None
) -> Iterator[ImageBatch]:
    """Batches copied out of a memory map of the local file (opened as every local file is read)."""
    with storage.open_for_reading(uri, options) as f:  # the map keeps its own handle of the file
        array = np.memmap(f, np.uint8, mode="r", offset=offset, shape=(n, HEIGHT, WIDTH))
    # Copy each slice out of the map: the batch owns its memory and the page cache can drop the rest.
    for start in range(0, len(array), batch_size):
        stop = min(start + batch_size, len(array))
        yield ImageBatch(np.arange(start, stop, dtype=np.int64), np.array(array[start:stop]), None)


def _npy_ranged(
    uri: str, offset: int, n: int, batch_size: int, options: StorageOptions | None
) -> Iterator[ImageBatch]:
    with storage.open_for_reading(uri, options) as f:
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            f.seek(offset + start * IMAGE_BYTES)
            pixels = np.frombuffer(read_exact(f, count * IMAGE_BYTES, uri), np.uint8)
            yield ImageBatch(
                np.arange(start, start + count, dtype=np.int64), pixels.reshape(count, HEIGHT, WIDTH), None
            )
