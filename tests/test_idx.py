"""IDX parsing and validation on small generated files."""

import gzip

import numpy as np
import pytest

from lenet_batch.data import idx
from lenet_batch.errors import DataError

IMAGES = np.arange(3 * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(3, 28, 28)
LABELS = np.array([0, 9, 4], dtype=np.uint8)


def test_round_trip_of_images_and_labels():
    images = idx.parse_images(idx.encode_idx(IMAGES), "x")
    labels = idx.parse_labels(idx.encode_idx(LABELS), "y")
    assert images.dtype == np.uint8 and images.shape == (3, 28, 28)
    np.testing.assert_array_equal(images, IMAGES)
    np.testing.assert_array_equal(labels, LABELS)


def test_gzip_and_raw_give_the_same_bytes():
    raw = idx.encode_idx(IMAGES)
    assert idx.decompress(gzip.compress(raw), "f.gz") == raw
    assert idx.decompress(raw, "f") == raw


def test_truncated_gzip_is_rejected():
    compressed = gzip.compress(idx.encode_idx(IMAGES))
    with pytest.raises(DataError, match="f.gz: damaged or truncated gzip"):
        idx.decompress(compressed[: len(compressed) // 2], "f.gz")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"\x01" + b[1:], "bad IDX magic"),
        (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX type code 0x07"),
        (lambda b: b[:3] + b"\x09" + b[4:], "unsupported IDX dimension count 9"),
        (lambda b: b[:-5], "truncated"),
        (lambda b: b + b"\0\0", "trailing bytes"),
        (lambda b: b[:2], "too short"),
    ],
)
def test_malformed_files_name_the_defect(mutate, message):
    with pytest.raises(DataError, match=message):
        idx.parse_images(mutate(idx.encode_idx(IMAGES)), "images.idx")


def test_wrong_image_dimensions_are_rejected():
    with pytest.raises(DataError, match=r"shape \(N, 28, 28\)"):
        idx.parse_images(idx.encode_idx(np.zeros((2, 28, 27), np.uint8)), "images.idx")
    with pytest.raises(DataError, match=r"shape \(N, 28, 28\)"):
        idx.parse_images(idx.encode_idx(np.zeros((2, 784), np.uint8)), "images.idx")


def test_labels_outside_0_to_9_are_rejected():
    with pytest.raises(DataError, match="label 10 at index 1"):
        idx.parse_labels(idx.encode_idx(np.array([3, 10, 2], np.uint8)), "labels.idx")


def test_non_uint8_images_are_rejected():
    data = bytes([0, 0, 0x0C, 3]) + np.array([1, 28, 28], ">u4").tobytes() + bytes(4 * 784)
    with pytest.raises(DataError, match="unsigned bytes"):
        idx.parse_images(data, "images.idx")


def test_count_mismatch_between_images_and_labels():
    with pytest.raises(DataError, match="has 3 images but labels.idx has 2 labels"):
        idx.check_counts(IMAGES, LABELS[:2], "images.idx", "labels.idx")
