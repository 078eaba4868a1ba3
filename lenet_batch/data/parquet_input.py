"""Parquet image sets: a 784-byte binary `image` column and an optional integer `label` column, in batches."""

import logging
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lenet_batch.data.batch import HEIGHT, IMAGE_BYTES, WIDTH, ImageBatch, check_not_empty
from lenet_batch.data.classes import check_label_range
from lenet_batch.errors import DataError
from lenet_batch.store import storage
from lenet_batch.store.backends import StorageOptions

log = logging.getLogger(__name__)

PARQUET_MAGIC = b"PAR1"
# Parquet pages are read through a buffer of this size instead of whole column chunks (pre_buffer).
PARQUET_BUFFER = 1 << 20


def _parquet_file(f: BinaryIO, uri: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(f, pre_buffer=False, buffer_size=PARQUET_BUFFER)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{uri}: not a readable Parquet file ({exc})") from None


def _parquet_columns(schema: pa.Schema, uri: str) -> list[str]:
    """The columns to read, after checking their types."""
    if "image" not in schema.names:
        raise DataError(
            f"{uri}: Parquet input needs an 'image' column of {IMAGE_BYTES}-byte binary values "
            f"(columns: {', '.join(schema.names)})"
        )
    image_type = schema.field("image").type
    if not (
        pa.types.is_binary(image_type)
        or pa.types.is_large_binary(image_type)
        or image_type == pa.binary(IMAGE_BYTES)
    ):
        raise DataError(f"{uri}: column 'image' must be binary ({IMAGE_BYTES} bytes a row), got {image_type}")
    if "label" not in schema.names:
        return ["image"]
    if not pa.types.is_integer(schema.field("label").type):
        raise DataError(
            f"{uri}: column 'label' must be an integer class 0-9, got {schema.field('label').type}"
        )
    return ["image", "label"]


def parquet_batches(uri: str, batch_size: int, options: StorageOptions | None) -> Iterator[ImageBatch]:
    """Validate the file's schema now; then stream its rows in batches of at most batch_size."""
    with storage.open_for_reading(uri, options) as f:
        parquet = _parquet_file(f, uri)
        columns = _parquet_columns(parquet.schema_arrow, uri)
        n = parquet.metadata.num_rows
    check_not_empty(n, uri)
    log.info("scoring %d images from Parquet %s", n, uri)
    return _parquet_read(uri, columns, batch_size, options)


def _parquet_read(
    uri: str, columns: list[str], batch_size: int, options: StorageOptions | None
) -> Iterator[ImageBatch]:
    start = 0
    with storage.open_for_reading(uri, options) as f:
        for record_batch in _parquet_file(f, uri).iter_batches(batch_size=batch_size, columns=columns):
            images = _image_column(record_batch.column("image"), uri, start)
            labels = _label_column(record_batch.column("label"), uri, start) if "label" in columns else None
            count = record_batch.num_rows
            yield ImageBatch(np.arange(start, start + count, dtype=np.int64), images, labels)
            start += count


def _image_column(column: pa.Array, uri: str, first_id: int) -> np.ndarray:
    """A binary column of 784-byte values as uint8 (N, 28, 28), without a copy per row."""
    if column.null_count:
        raise DataError(f"{uri}: column 'image' is null at row {first_id + _first_true(column.is_null())}")
    if column.type != pa.binary(IMAGE_BYTES):
        lengths = pc.binary_length(column)
        wrong = pc.not_equal(lengths, IMAGE_BYTES)
        if pc.any(wrong).as_py():
            row = _first_true(wrong)
            raise DataError(
                f"{uri}: column 'image' row {first_id + row} has {lengths[row].as_py()} bytes, "
                f"expected {IMAGE_BYTES} (28x28 uint8)"
            )
        column = column.cast(pa.binary(IMAGE_BYTES))
    values = np.frombuffer(column.buffers()[1], np.uint8)
    start = column.offset * IMAGE_BYTES
    return values[start : start + len(column) * IMAGE_BYTES].reshape(len(column), HEIGHT, WIDTH)


def _label_column(column: pa.Array, uri: str, first_id: int) -> np.ndarray:
    if column.null_count:
        raise DataError(
            f"{uri}: column 'label' is null at row {first_id + _first_true(column.is_null())}; "
            "give every row a label or drop the column"
        )
    labels = column.to_numpy()
    check_label_range(labels, uri, first_id, position="at row")
    return labels.astype(np.uint8)


def _first_true(mask: pa.Array) -> int:
    return int(np.argmax(mask.to_numpy(zero_copy_only=False)))
