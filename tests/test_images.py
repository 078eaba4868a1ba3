"""Input image sets for scoring: every source, its validation, and the batch-size bound on large inputs."""

import tracemalloc
from types import SimpleNamespace

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lenet_batch.data import idx
from lenet_batch.data import inputs as images
from lenet_batch.data.batch import ImageBatch
from lenet_batch.errors import ConfigError, DataError
from tests import helpers


def sample_images(n: int, start: int = 0) -> np.ndarray:
    """Images whose first two pixels encode their index, so order and completeness can be checked."""
    ids = np.arange(start, start + n)
    out = np.zeros((n, 28, 28), np.uint8)
    out[:, 0, 0], out[:, 0, 1], out[:, 27, 27] = ids % 256, (ids // 256) % 256, (ids // 65536) % 256
    return out


def decode_ids(batch_images: np.ndarray) -> np.ndarray:
    pixel = [batch_images[:, r, c].astype(np.int64) for r, c in ((0, 0), (0, 1), (27, 27))]
    return pixel[0] + 256 * pixel[1] + 65536 * pixel[2]


def collect(batches) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[int]]:
    """(sample ids, images, labels or None, batch sizes) of a whole stream."""
    batches = list(batches)
    labels = None if batches[0].labels is None else np.concatenate([b.labels for b in batches])
    return (
        np.concatenate([b.sample_ids for b in batches]),
        np.concatenate([b.images for b in batches]),
        labels,
        [len(b) for b in batches],
    )


def write_parquet(path, imgs: np.ndarray, labels=None, image_type=None, row_group_size=None) -> str:
    flat = [bytes(row) for row in imgs.reshape(len(imgs), -1)]
    columns = {"image": pa.array(flat, image_type or pa.binary())}
    if labels is not None:
        columns["label"] = pa.array(labels)
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return str(path)


def test_default_is_the_test_split_from_the_loader_with_data_and_verify_passed_through():
    calls = []
    split = SimpleNamespace(test_images=sample_images(25), test_labels=np.arange(25, dtype=np.uint8) % 10)

    def loader(data_uri, options, verify):
        calls.append((data_uri, options, verify))
        return split

    ids, imgs, labels, sizes = collect(
        images.iter_batches(None, 10, {"anon": True}, loader, data_uri="s3://d", verify=False)
    )
    assert calls == [("s3://d", {"anon": True}, False)]
    assert sizes == [10, 10, 5]
    assert ids.tolist() == list(range(25)) and ids.dtype == np.int64
    assert np.array_equal(imgs, split.test_images) and np.array_equal(labels, split.test_labels)


def test_default_real_test_split_has_10000_labelled_images(fashion_mnist):
    ids, imgs, labels, sizes = collect(images.iter_batches(None, 4096, None, lambda *a: fashion_mnist))
    assert sizes == [4096, 4096, 1808]
    assert np.array_equal(imgs, fashion_mnist.test_images) and np.array_equal(
        labels, fashion_mnist.test_labels
    )


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("with_labels", [True, False], ids=["labels", "no-labels"])
def test_idx_images_stream_with_optional_labels(tmp_path, compress, with_labels):
    imgs, labels = sample_images(103), (np.arange(103) % 10).astype(np.uint8)
    images_uri = str(helpers.write_idx(tmp_path / "imgs.idx", imgs, compress))
    labels_uri = str(helpers.write_idx(tmp_path / "labels.idx", labels, compress)) if with_labels else None
    ids, got, got_labels, sizes = collect(images.iter_batches(images_uri, 50, labels_uri=labels_uri))
    assert sizes == [50, 50, 3] and ids.tolist() == list(range(103))
    assert np.array_equal(got, imgs)
    assert np.array_equal(got_labels, labels) if with_labels else got_labels is None


@pytest.mark.parametrize(
    "case, match",
    [
        ("count-mismatch", "has 10 images but .* has 9 labels"),
        ("truncated", "truncated"),
        ("trailing", "trailing bytes"),
        ("labels-as-images", "expected an IDX file of unsigned bytes with 3 dimensions"),
        ("bad-label", "label 12 of sample 3 is outside 0-9"),
        ("wrong-size", "images must be 28x28"),
    ],
)
def test_bad_idx_inputs_are_data_errors_naming_the_file(tmp_path, case, match):
    imgs, labels = sample_images(10), np.zeros(10, np.uint8)
    images_path, labels_path = tmp_path / "imgs.idx.gz", tmp_path / "labels.idx.gz"
    helpers.write_idx(images_path, imgs)
    helpers.write_idx(labels_path, labels[:9] if case == "count-mismatch" else labels)
    if case in ("truncated", "trailing"):
        raw = idx.encode_idx(imgs)
        images_path.write_bytes(raw[:-100] if case == "truncated" else raw + b"\0")
    if case == "labels-as-images":
        images_path = labels_path
    if case == "bad-label":
        labels[3] = 12
        helpers.write_idx(labels_path, labels)
    if case == "wrong-size":
        helpers.write_idx(images_path, np.zeros((10, 32, 32), np.uint8))
    with pytest.raises(DataError, match=match) as err:
        list(images.iter_batches(str(images_path), 4, labels_uri=str(labels_path)))
    assert str(images_path.name) in str(err.value) or str(labels_path.name) in str(err.value)


@pytest.mark.parametrize("where", ["local", "memory"])
def test_npy_streams_locally_memory_mapped_and_remotely_by_ranges(tmp_path, where):
    imgs = sample_images(1001)
    if where == "local":
        uri = str(tmp_path / "x.npy")
        np.save(uri, imgs)
    else:
        uri = f"memory://npy-{id(imgs)}/x.npy"
        with fsspec.open(uri, "wb") as f:
            np.save(f, imgs)
    ids, got, labels, sizes = collect(images.iter_batches(uri, 256))
    assert sizes == [256, 256, 256, 233] and labels is None
    assert np.array_equal(got, imgs) and ids.tolist() == list(range(1001))


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((5, 28, 27), np.uint8), r"shape \(N, 28, 28\), got uint8 \(5, 28, 27\)"),
        (np.zeros((5, 784), np.uint8), r"got uint8 \(5, 784\)"),
        (np.zeros((5, 28, 28), np.float32), "got float32"),
        (np.asfortranarray(np.zeros((5, 28, 28), np.uint8)), "Fortran order"),
        (np.array([{"a": 1}], dtype=object), "got object"),
    ],
)
def test_bad_npy_inputs_are_data_errors_naming_the_file(tmp_path, array, match):
    path = tmp_path / "bad.npy"
    np.save(path, array, allow_pickle=True)
    with pytest.raises(DataError, match=match) as err:
        images.iter_batches(str(path), 4)  # validated before the first batch is asked for
    assert "bad.npy" in str(err.value)


def test_truncated_npy_is_a_data_error(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, sample_images(10))
    path.write_bytes(path.read_bytes()[:-784])
    with pytest.raises(DataError, match="cut.npy: truncated"):
        images.iter_batches(str(path), 4)


@pytest.mark.parametrize("image_type", [pa.binary(), pa.large_binary(), pa.binary(784)], ids=str)
def test_parquet_image_column_with_optional_label(tmp_path, image_type):
    imgs, labels = sample_images(257), (np.arange(257) % 10).astype(np.int64)
    uri = write_parquet(tmp_path / "x.parquet", imgs, labels, image_type, row_group_size=100)
    ids, got, got_labels, sizes = collect(images.iter_batches(uri, 64))
    assert max(sizes) <= 64 and sum(sizes) == 257
    assert np.array_equal(got, imgs) and ids.tolist() == list(range(257))
    assert got_labels.dtype == np.uint8 and np.array_equal(got_labels, labels)
    no_labels = write_parquet(tmp_path / "y.parquet", imgs[:5])
    assert collect(images.iter_batches(no_labels, 64))[2] is None


@pytest.mark.parametrize(
    "table, match",
    [
        (pa.table({"pixels": [b"\0" * 784]}), "needs an 'image' column"),
        (pa.table({"image": ["text"]}), "column 'image' must be binary"),
        (pa.table({"image": [b"\0" * 784, b"\0" * 783]}), "row 1 has 783 bytes, expected 784"),
        (pa.table({"image": pa.array([b"\0" * 784, None])}), "column 'image' is null at row 1"),
        (pa.table({"image": [b"\0" * 784], "label": [10]}), "label 10 at row 0 is outside 0-9"),
        (pa.table({"image": [b"\0" * 784], "label": ["coat"]}), "column 'label' must be an integer"),
    ],
)
def test_bad_parquet_inputs_are_data_errors_naming_the_file(tmp_path, table, match):
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path)
    with pytest.raises(DataError, match=match) as err:
        list(images.iter_batches(str(path), 8))
    assert "bad.parquet" in str(err.value)


def test_unknown_format_missing_file_and_misplaced_labels_are_user_errors(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(DataError, match="notes.txt: not an IDX"):
        images.iter_batches(str(text), 8)
    with pytest.raises(Exception, match="missing.npy: not found") as err:
        images.iter_batches(str(tmp_path / "missing.npy"), 8)
    assert err.value.exit_code == 2
    npy = tmp_path / "x.npy"
    np.save(npy, sample_images(2))
    with pytest.raises(ConfigError, match="IDX images only"):
        images.iter_batches(str(npy), 8, labels_uri=str(text))
    with pytest.raises(ConfigError, match="at least 1"):
        images.iter_batches(str(npy), 0)


def test_bounded_splits_a_batch_larger_than_the_bound():
    big = ImageBatch(np.arange(10, dtype=np.int64), sample_images(10), np.zeros(10, np.uint8))
    sizes = [len(b) for b in images.bounded(iter([big]), 4)]
    assert sizes == [4, 4, 2]


LARGE = 200_000
BATCH = 5000


@pytest.fixture(scope="module")
def large_inputs(tmp_path_factory) -> dict[str, str]:
    """A 200,000-image .npy and Parquet file (157 MB each), written chunk by chunk."""
    folder = tmp_path_factory.mktemp("large")
    npy = str(folder / "large.npy")
    mm = np.lib.format.open_memmap(npy, mode="w+", dtype=np.uint8, shape=(LARGE, 28, 28))
    schema = pa.schema([("image", pa.binary(784)), ("label", pa.uint8())])
    with pq.ParquetWriter(folder / "large.parquet", schema, compression="zstd") as writer:
        for start in range(0, LARGE, 40_000):
            chunk = sample_images(40_000, start)
            mm[start : start + 40_000] = chunk
            flat = pa.FixedSizeBinaryArray.from_buffers(pa.binary(784), 40_000, [None, pa.py_buffer(chunk)])
            labels = pa.array((np.arange(start, start + 40_000) % 10).astype(np.uint8))
            # Row groups far larger than a batch: the reader must still hand out at most BATCH rows.
            writer.write_table(pa.table([flat, labels], schema=schema), row_group_size=40_000)
    mm.flush()
    del mm
    return {"npy": npy, "parquet": str(folder / "large.parquet")}


@pytest.mark.parametrize("kind", ["npy", "parquet"])
def test_200k_images_stream_in_batches_bounded_by_batch_size(large_inputs, kind):
    tracemalloc.start()
    seen, sizes, arrow_peak = 0, [], 0
    try:
        for batch in images.iter_batches(large_inputs[kind], BATCH):
            sizes.append(len(batch))
            assert len(batch) <= BATCH
            assert batch.images.shape == (len(batch), 28, 28) and batch.images.dtype == np.uint8
            assert np.array_equal(decode_ids(batch.images), batch.sample_ids)
            assert batch.sample_ids[0] == seen
            seen += len(batch)
            arrow_peak = max(arrow_peak, pa.total_allocated_bytes())
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == LARGE and max(sizes) == BATCH
    # The whole input is 157 MB: neither NumPy nor Arrow ever held more than a few batches of it.
    assert python_peak < 8 * BATCH * 784, python_peak
    assert arrow_peak < 24 * BATCH * 784, arrow_peak
