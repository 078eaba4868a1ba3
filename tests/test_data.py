"""Locating, verifying and downloading Fashion-MNIST; normalisation."""

import functools
import gzip
import http.server
import threading

import numpy as np
import pytest

from lenet_batch.data import fashion_mnist as data
from lenet_batch.errors import DataError
from tests import helpers


def test_real_dataset_verifies_and_has_the_documented_shapes(fashion_mnist):
    assert fashion_mnist.train_images.shape == (60_000, 28, 28)
    assert fashion_mnist.test_images.shape == (10_000, 28, 28)
    assert fashion_mnist.train_images.dtype == np.uint8 and fashion_mnist.train_labels.dtype == np.uint8
    assert fashion_mnist.digests == data.SHA256
    assert set(data.class_balance(fashion_mnist.train_labels).values()) == {6000}


def test_raw_files_are_accepted_and_recompressed_copies_verify(tmp_path, fashion_mnist):
    for key, stem in data.FILES.items():
        array = getattr(fashion_mnist, key)
        if (
            key == "train_images"
        ):  # recompressed at another level: digest of the decompressed bytes still matches
            helpers.write_idx(tmp_path / (stem + ".gz"), array)
        else:
            helpers.write_idx(tmp_path / stem, array, compress=False)
    loaded = data.read_folder(str(tmp_path))
    assert loaded.digests == data.SHA256


def test_altered_file_fails_its_digest(tmp_path, fashion_mnist):
    helpers.write_dataset(tmp_path, fashion_mnist, 60_000, 10_000)
    labels = fashion_mnist.test_labels.copy()
    labels[0] = (labels[0] + 1) % 10
    helpers.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: SHA-256 of the decompressed bytes"):
        data.read_folder(str(tmp_path))


def test_image_label_count_mismatch_names_both_files(tmp_path, fashion_mnist):
    helpers.write_dataset(tmp_path, fashion_mnist, 100, 50)
    helpers.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", fashion_mnist.train_labels[:99])
    with pytest.raises(DataError, match="train-images-idx3-ubyte has 100 images but train-labels"):
        data.read_folder(str(tmp_path), verify=False)


def test_missing_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read Fashion-MNIST file"):
        data.read_folder(str(tmp_path / "nowhere"))


def test_locate_prefers_flag_then_environment(monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, "/from/env")
    assert data.locate("/from/flag") == "/from/flag"
    assert data.locate(None) == "/from/env"


@pytest.fixture()
def http_folder(tmp_path):
    """Serve tmp_path over HTTP on 127.0.0.1."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_verifies_and_caches(http_folder, tmp_path_factory, fashion_mnist, monkeypatch):
    folder, url = http_folder
    helpers.write_dataset(folder, fashion_mnist, 60_000, 10_000)
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    target = data.download(url)
    assert target == cache / "lenet-batch" / "fashion-mnist"
    assert data.read_folder(str(target)).digests == data.SHA256


def test_download_of_a_corrupt_file_keeps_nothing(http_folder, tmp_path, monkeypatch):
    folder, url = http_folder
    for stem in data.FILES.values():
        (folder / (stem + ".gz")).write_bytes(gzip.compress(b"not fashion-mnist"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="fails its SHA-256 check"):
        data.download(url)
    assert not any((tmp_path / "cache").rglob("*.gz"))


def test_normalize_matches_totensor_then_normalize():
    images = np.array([[[0, 255], [51, 128]]], dtype=np.uint8)
    x = data.normalize(images, 0.13, 0.31)
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    expected = (images.astype(np.float64) / 255.0 - 0.13) / 0.31
    np.testing.assert_allclose(x[:, 0], expected, rtol=1e-6, atol=1e-6)
    assert x[0, 0, 0, 0] == pytest.approx(-0.419354838, abs=1e-6)
    assert x[0, 0, 0, 1] == pytest.approx(2.806451613, abs=1e-6)
