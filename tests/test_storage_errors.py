"""Storage says what happened: a refused connection or a 403 never reads "not found", an HTTP server without
Range support still serves every input format, a missing bucket and a bad bucket name are one whole line,
and a full disk during the summary says what was kept."""

import contextlib
import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lenet_batch import cli
from lenet_batch.data.inputs import iter_batches
from lenet_batch.errors import StorageError
from lenet_batch.scoring.partitions import write_partition
from lenet_batch.store import backends, failures, storage
from lenet_batch.store.layout import RunRef
from tests import helpers
from tests.fault_helpers import closed_port, fill, small_tmpfs
from tests.prediction_helpers import fake_batches, fashion, install_run

N = 1500


class _Quiet(http.server.SimpleHTTPRequestHandler):
    """Python's file server (which ignores Range headers), silent, answering 403 for /forbidden/."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/forbidden/"):
            self.send_error(403)
            return
        super().do_GET()

    do_HEAD = do_GET


@contextlib.contextmanager
def file_server(folder: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 without Range support serving `folder`; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """The first N test images as .npy, IDX .gz (+ labels) and Parquet."""
    folder = tmp_path_factory.mktemp("inputs")
    images, labels = fashion().test_images[:N], fashion().test_labels[:N]
    np.save(folder / "x.npy", images)
    helpers.write_idx(folder / "x.idx.gz", images)
    helpers.write_idx(folder / "y.idx.gz", labels)
    column = pa.array([i.tobytes() for i in images], pa.binary())
    pq.write_table(pa.table({"image": column, "label": labels.astype(np.int64)}), folder / "x.parquet")
    return folder


@pytest.mark.parametrize(("name", "labels"), [("x.npy", None), ("x.idx.gz", "y.idx.gz"), ("x.parquet", None)])
def test_a_server_without_range_support_still_serves_every_input_format(inputs, name, labels, caplog):
    with file_server(inputs) as base:
        labels_uri = f"{base}/{labels}" if labels else None
        batches = list(iter_batches(f"{base}/{name}", 512, labels_uri=labels_uri))
    assert np.array_equal(np.concatenate([b.images for b in batches]), fashion().test_images[:N])
    assert [len(b) for b in batches] == [512, 512, N - 1024]
    assert "does not support range requests; reading the whole file" in caplog.text


def test_a_file_too_large_to_read_whole_from_such_a_server_is_refused_saying_why(inputs, monkeypatch):
    monkeypatch.setattr(backends, "WHOLE_OBJECT_LIMIT", 1000)
    with (
        file_server(inputs) as base,
        pytest.raises(StorageError, match="does not support range requests, and the"),
    ):
        iter_batches(f"{base}/x.npy", 512)


def test_infer_from_a_server_without_range_support_scores_every_seed(inputs, tmp_path, capsys):
    install_run(str(tmp_path), "r", [0, 1])
    with file_server(inputs) as base:
        code = cli.main(["infer", "--output", str(tmp_path), "--run", "r", "--input", f"{base}/x.npy", "-q"])
    assert code == 0, capsys.readouterr().err
    for seed in (0, 1):
        assert (tmp_path / "scored" / "input=x" / "run_id=r" / f"seed={seed}" / "_COMMITTED.json").exists()


def _one_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("{closed}/x.npy", "cannot connect"),
        ("{base}/forbidden/x.npy", "the server answered HTTP 403"),
        ("{base}/missing.npy", "not found"),
    ],
)
def test_a_failed_lookup_says_why_and_only_a_missing_file_reads_not_found(
    inputs, tmp_path, capsys, path, message
):
    install_run(str(tmp_path), "r", [0])
    with file_server(inputs) as base:
        uri = path.format(base=base, closed=f"http://127.0.0.1:{closed_port()}")
        code = cli.main(["infer", "--output", str(tmp_path), "--run", "r", "--input", uri, "-q"])
        data = cli.main(["data", "--data", uri.rsplit("/", 1)[0], "-q", "--storage-timeout", "2"])
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]
    assert code == data == 2 and len(lines) == 2, lines
    assert message in lines[0] and message in lines[1], lines
    if "not found" not in message:
        assert all("not found" not in line for line in lines), lines


MISSING_BUCKET = [
    ["nightly", "--seeds", "0", "--run-id", "n"],
    ["runs"],
    ["history"],
    ["infer", "--run", "n"],
    ["summary", "--run", "n"],
    ["query", "SELECT 1"],
]


@pytest.mark.parametrize("args", MISSING_BUCKET, ids=[a[0] for a in MISSING_BUCKET])
def test_a_missing_bucket_is_named_as_such(s3_endpoint, args, capsys):
    assert cli.main([*args, "--output", "s3://no-such-bucket/lenet", "-q"]) == 2
    assert _one_line(capsys).endswith(
        "s3://no-such-bucket: the bucket does not exist; check its name, or create it"
    )


def test_missing_data_in_a_missing_bucket_is_named_as_such(s3_endpoint, tmp_path, capsys):
    assert cli.main(["data", "--data", "s3://no-such-bucket/fashion", "-q"]) == 2
    assert "s3://no-such-bucket: the bucket does not exist" in _one_line(capsys)


@pytest.mark.parametrize("args", [["nightly", "--seeds", "0"], ["history"]], ids=["nightly", "history"])
def test_a_bad_bucket_name_is_one_whole_line(s3_endpoint, args, capsys):
    assert cli.main([*args, "--output", "s3://Bad_Bucket!/lenet", "-q"]) == 2
    line = _one_line(capsys)
    assert "s3://Bad_Bucket!: not a valid bucket name (S3: 3-63 lowercase letters" in line
    assert not line.endswith(":")


def test_a_backend_message_split_over_lines_is_kept_whole():
    class Multi(ValueError):
        pass

    error = failures.storage_error("s3://b/k", Multi("Parameter validation failed:\nInvalid thing: why"))
    assert str(error) == "s3://b/k: Parameter validation failed: Invalid thing: why"


def test_a_full_disk_during_the_summary_says_what_was_kept(tmp_path, capsys):
    helpers.write_dataset(tmp_path, fashion(), n_train=100, n_test=100)  # the report's pictures
    with small_tmpfs(4096) as disk:
        out = os.path.join(disk, "out")
        install_run(out, "r", [0, 1])
        for seed in (0, 1):
            write_partition(RunRef(out, "r"), seed, fake_batches(500, 250, seed), "e" * 64)
        filler = fill(disk)
        try:
            args = ["summary", "--output", out, "--run", "r", "--data", str(tmp_path), "--no-verify", "-q"]
            code = cli.main(args)
        finally:
            os.unlink(filler)
        *before, line = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.strip()]
        assert all("WARNING could not save the log" in ln for ln in before), before  # said once, if at all
        assert code == 2 and "No space left on device" in line, line
        assert "its trained models and predictions are kept: rerun `lenet-batch summary --run r`" in line
        assert "nothing" not in line.lower()
        assert storage.exists(RunRef(out, "r").model_params(1))
