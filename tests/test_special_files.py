"""Every path the program reads may hold a FIFO, a folder, a symlink loop, a device or a socket: each reader
opens regular files only, never waits, and ends in one line naming the path and what stands there.

Readers: the storage layer every command reads through (store/local_files.py is the one local opener), the
dataset files under --data, --input and --labels files, run records, a seed's checkpoint pointer, the
--config file; the lock and the writer marks are in test_lock_files.py.
"""

import logging
import os
import re
import shutil
from pathlib import Path

import pytest

from lenet_batch import cli
from lenet_batch.config import Recipe
from lenet_batch.data.inputs import iter_batches
from lenet_batch.errors import DataError, LenetError, StorageError
from lenet_batch.records import DataInfo
from lenet_batch.store import local_files, storage
from lenet_batch.store.layout import RunRef
from lenet_batch.training import checkpoints
from tests import helpers
from tests.fault_helpers import assert_one_line_error
from tests.input_helpers import run_main
from tests.special_files import SPECIAL, deadline, make

MEMBERS = list(SPECIAL)


@pytest.fixture
def data_copy(tmp_path, small_data_dir) -> Path:
    """A copy of the small dataset that a test may spoil."""
    return Path(shutil.copytree(small_data_dir, tmp_path / "data"))


@pytest.mark.parametrize("member", MEMBERS)
def test_every_storage_read_of_a_local_path_refuses_it_at_once(tmp_path, member):
    path = tmp_path / "record.json"
    reason = make(member, path)
    uri = str(path)
    readers = {
        "read_bytes": storage.read_bytes,
        "read_json": storage.read_json,
        "read_many": lambda u: storage.read_many([u]),
        "open_stream": lambda u: storage.open_stream(u).__enter__(),
        "open_for_reading": lambda u: storage.open_for_reading(u).__enter__(),
    }
    for name, read in readers.items():
        for given in (uri, f"file://{uri}"):
            with deadline(10), pytest.raises(StorageError) as refused:
                read(given)
            assert str(refused.value) == f"{given}: {reason}", name


def test_a_local_read_is_bounded_by_its_limit_before_any_byte_is_read(tmp_path):
    path = tmp_path / "big"
    with open(path, "wb") as f:
        f.truncate(10 * 2**30)  # sparse: 10 GiB that take no room
    with pytest.raises(StorageError, match=r"too large \(10737418240 bytes; at most 1073741824 are read\)"):
        storage.read_bytes(str(path))
    with pytest.raises(StorageError, match="too large"):
        storage.read_json(str(path))
    path.write_bytes(b"12345")
    with pytest.raises(local_files.FileTooLarge):
        local_files.read_regular(str(path), 4)
    assert local_files.read_regular(str(path), 5) == b"12345"


@pytest.mark.parametrize("member", MEMBERS)
@pytest.mark.parametrize("stem", ["t10k-labels-idx1-ubyte", "train-images-idx3-ubyte"])
def test_a_dataset_file_that_is_not_a_regular_file_exits_2_naming_it(data_copy, capsys, member, stem):
    reason = make(member, data_copy / f"{stem}.gz")
    with deadline(60):
        code, err = run_main(capsys, "data", "--data", str(data_copy), "--no-verify")
    assert_one_line_error(code, err, 2, f"cannot read Fashion-MNIST file: {data_copy}/{stem}.gz: {reason}")


def test_train_with_a_fifo_for_a_dataset_file_ends_at_once_in_one_line(data_copy, tmp_path):
    """The issue's case: `data` and `train` waited for a writer of the FIFO for ever."""
    make("fifo", data_copy / "t10k-labels-idx1-ubyte.gz")
    out = str(tmp_path / "out")
    args = ("--data", str(data_copy), "--no-verify", "--output", out, "--seeds", "0", "--epochs", "1")
    done = helpers.run_cli("train", *args, timeout=120)
    assert_one_line_error(done.returncode, done.stderr, 2, "not a regular file (a FIFO)")


def test_a_gzip_that_unpacks_past_the_limit_is_refused(tmp_path):
    from lenet_batch.data import idx

    bomb = helpers.write_idx(tmp_path / "x.gz", idx_zeros := __import__("numpy").zeros((100, 28, 28), "u1"))
    assert len(idx.decompress(bomb.read_bytes(), "x.gz")) == 16 + idx_zeros.size
    with pytest.raises(DataError, match=r"x.gz: unpacks to more than 1000 bytes"):
        idx.decompress(bomb.read_bytes(), "x.gz", limit=1000)


@pytest.mark.parametrize("member", MEMBERS)
@pytest.mark.parametrize("which", ["images", "labels"])
def test_an_input_file_that_is_not_a_regular_file_is_refused_in_one_line(tmp_path, member, which):
    images = helpers.write_idx(tmp_path / "images.gz", fashion_mnist_test()[0])
    labels = helpers.write_idx(tmp_path / "labels.gz", fashion_mnist_test()[1])
    reason = make(member, images if which == "images" else labels)
    with deadline(10), pytest.raises(LenetError) as refused:
        list(iter_batches(str(images), 64, labels_uri=str(labels)))
    assert refused.value.exit_code == 2 and "\n" not in str(refused.value)
    assert f"{images if which == 'images' else labels}: {reason}" in str(refused.value)


def fashion_mnist_test():
    from tests.prediction_helpers import fashion

    return fashion().test_images[:100], fashion().test_labels[:100]


@pytest.mark.parametrize("member", ["fifo", "dev-zero", "folder"])
def test_infer_with_an_input_that_is_not_a_regular_file_exits_2(tmp_path, capsys, member):
    from tests.input_helpers import trained_run_at

    out = trained_run_at(str(tmp_path / "out"))
    reason = make(member, tmp_path / "input.npy")
    with deadline(60):
        code, err = run_main(
            capsys, "infer", "--output", out, "--run", "r", "--input", str(tmp_path / "input.npy")
        )
    assert_one_line_error(code, err, 2, f"{tmp_path}/input.npy: {reason}")
    assert not (tmp_path / "out" / "scored").exists()


@pytest.mark.parametrize("member", MEMBERS)
def test_a_config_file_that_is_not_a_regular_file_exits_2(tmp_path, capsys, member):
    reason = make(member, tmp_path / "lenet.toml")
    with deadline(10):
        code, err = run_main(capsys, "train", "--config", str(tmp_path / "lenet.toml"), "--dry-run")
    expected = "is a folder; give the TOML file" if member == "folder" else reason
    assert_one_line_error(code, err, 2, f"--config {tmp_path}/lenet.toml: {expected}")


@pytest.mark.parametrize("member", MEMBERS)
def test_a_run_record_that_is_not_a_regular_file_refuses_summary_in_one_line(tmp_path, capsys, member):
    from tests.prediction_helpers import install_run

    out = str(tmp_path / "out")
    install_run(out, "r", [0])
    reason = make(member, tmp_path / "out" / "runs" / "r" / "run.json")
    with deadline(30):
        code, err = run_main(capsys, "summary", "--run", "r", "--output", out)
    assert_one_line_error(code, err, 2, reason)


@pytest.mark.parametrize("member", MEMBERS)
def test_a_checkpoint_pointer_that_is_not_a_regular_file_means_start_over(tmp_path, caplog, member):
    run = RunRef(str(tmp_path / "out"), "r")
    folder = Path(run.checkpoint_dir(0))
    folder.mkdir(parents=True)
    reason = make(member, folder / "latest.json")
    with deadline(10), caplog.at_level(logging.WARNING):
        assert checkpoints.load_checkpoint(run, 0, Recipe(), DataInfo()) is None
    assert f"ignoring unreadable checkpoint ({folder}/latest.json: {reason})" in caplog.text


# --- the same on S3: no FIFOs or devices, but prefixes that look like folders and objects too large --------


def test_on_s3_a_prefix_read_as_a_file_is_a_folder_and_reads_are_bounded(s3_endpoint):
    folder = s3_endpoint.uri("out", "record.json")
    storage.write_bytes_atomic(storage.join(folder, "inside"), b"x")  # record.json/ is a prefix
    for read in (storage.read_bytes, storage.read_json, lambda u: storage.open_stream(u).__enter__()):
        with pytest.raises(StorageError) as refused:
            read(folder)
        assert str(refused.value) == f"{folder}: is a folder, not a file"
    with pytest.raises(StorageError, match=r"^s3://lenet-test/out/missing.json: not found$"):
        storage.read_bytes(s3_endpoint.uri("out", "missing.json"))
    big, empty = s3_endpoint.uri("big"), s3_endpoint.uri("empty")
    storage.write_bytes_atomic(big, b"x" * 101)
    storage.write_bytes_atomic(empty, b"")
    with pytest.raises(StorageError, match=r"big: too large \(more than 100 bytes"):
        storage.read_bytes(big, limit=100)
    assert storage.read_bytes(big, limit=101) == b"x" * 101 and storage.read_bytes(empty, limit=5) == b""


def test_on_s3_a_dataset_file_that_is_a_folder_exits_2_naming_it(s3_endpoint, small_data_dir, capsys):
    data = s3_endpoint.uri("data")
    for name in sorted(os.listdir(small_data_dir)):
        if name.startswith("t10k-labels"):
            storage.write_bytes_atomic(storage.join(data, name, "part-0"), b"x")
        else:
            storage.write_bytes_atomic(storage.join(data, name), Path(small_data_dir, name).read_bytes())
    code, err = run_main(capsys, "data", "--data", data, "--no-verify")
    assert_one_line_error(code, err, 2, f"{data}/t10k-labels-idx1-ubyte.gz: is a folder, not a file")


def test_on_s3_an_input_that_is_a_folder_is_refused_in_one_line(s3_endpoint):
    uri = s3_endpoint.uri("inputs", "x.npy")
    storage.write_bytes_atomic(storage.join(uri, "part-0"), b"x")
    with pytest.raises(LenetError, match=rf"^{uri}: is a folder, not a file$") as refused:
        list(iter_batches(uri, 64))
    assert refused.value.exit_code == 2


@pytest.mark.parametrize("member", MEMBERS)
def test_require_file_refuses_what_a_library_would_wait_on(tmp_path, member):
    """For paths handed to DuckDB or pyarrow, which open them themselves."""
    reason = make(member, tmp_path / "part-00000.parquet")
    with deadline(10), pytest.raises(StorageError, match=re.escape(f": {reason}") + "$"):
        storage.require_file(str(tmp_path / "part-00000.parquet"))
    (tmp_path / "ok.parquet").write_bytes(b"PAR1")
    storage.require_file(str(tmp_path / "ok.parquet"))


@pytest.mark.parametrize("member", MEMBERS)
def test_check_replaces_a_metrics_file_target_of_any_kind_without_waiting(tmp_path, capsys, member):
    """The metrics file is written beside and renamed over its target: never opened, never waited on."""
    from tests.history_helpers import write_synthetic_runs

    write_synthetic_runs(str(tmp_path / "out"), 2, 2)
    target = tmp_path / "lenet.prom"
    make(member, target)
    with deadline(30):
        cli.main(["check", "--output", str(tmp_path / "out"), "--metrics-file", str(target)])
    err = capsys.readouterr().err
    if member == "folder":  # cannot be renamed over: said in one line (its exit code is check's to choose)
        assert "is a folder, not a file" in err and "Traceback" not in err
    else:
        assert target.is_file() and not target.is_symlink() and "lenet_batch_" in target.read_text()


@pytest.mark.parametrize("member", MEMBERS)
def test_a_prediction_file_that_is_not_a_regular_file_ends_the_query_in_one_line(tmp_path, capsys, member):
    """DuckDB opens the prediction files itself: each is checked first, so a FIFO never makes it wait."""
    from lenet_batch.scoring.partitions import write_partition
    from tests.prediction_helpers import fake_batches

    run = RunRef(str(tmp_path / "out"), "r")
    write_partition(run, 0, fake_batches(100, 50, 0), "e" * 64)
    part = Path(run.partition_dir(0)) / "part-00000.parquet"
    part.unlink()
    reason = make(member, part)
    with deadline(30):
        code, err = run_main(capsys, "query", "SELECT count(*) FROM predictions", "--output", run.output)
    assert_one_line_error(code, err, 2, reason)
