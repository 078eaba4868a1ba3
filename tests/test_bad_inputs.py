"""Bad input of every class ends in exit 2 (or the documented code) with one line, and loses no output.

Classes: paths of the wrong kind, JSON records of the wrong shape, storage options the backend rejects,
baselines outside the output, outputs the Ray workers cannot reach, input files and rows that are not
images, empty inputs (a custom --input kept apart from the evaluation: test_named_inputs.py).
"""

import os
from pathlib import Path

import numpy as np
import pytest

from lenet_batch.data.inputs import ImageSource
from lenet_batch.errors import InputError
from lenet_batch.scoring.committed import committed_partitions
from lenet_batch.scoring.partitions import write_partition
from lenet_batch.store import run_record, storage
from lenet_batch.store.layout import Layout, RunRef
from lenet_batch.store.run_record import RunRecord
from tests import helpers
from tests.fault_helpers import assert_one_line_error
from tests.helpers import score_seed
from tests.input_helpers import images, parquet_input, run_main, trained_run_at
from tests.prediction_helpers import fake_batches, fashion, snapshot


@pytest.fixture
def fake_run(tmp_path) -> str:
    """An output with run r's run.json and committed predictions for seeds 0 and 1 (fake rows, no model)."""
    layout = Layout(str(tmp_path / "out"))
    run_record.write_record(layout.run("r"), RunRecord("r", seeds=(0, 1)))
    for seed in (0, 1):
        write_partition(layout.run("r"), seed, fake_batches(300, 100, seed), "e" * 64)
    return layout.output


@pytest.fixture
def trained_run(tmp_path) -> str:
    return trained_run_at(str(tmp_path / "out"))


# --- paths of the wrong kind --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nightly", "--output", "{file}", "--seeds", "0"], "--output {file} is a file; give a folder"),
        (["train", "--output", "file://{file}", "--dry-run"], "is a file; give a folder"),
        (["data", "--data", "{file}", "--no-verify"], "cannot read Fashion-MNIST file: {file}/"),
        (
            ["data", "--data", "{small}", "--no-verify", "--plot", "{folder}"],
            "{folder}: is a folder, not a file",
        ),
        (["train", "--config", "{folder}", "--dry-run"], "--config {folder}: is a folder"),
        (
            ["train", "--output", "{file}/out", "--seeds", "0", "--data", "{small}", "--no-verify"],
            "a file is in the way where a folder must be",
        ),
    ],
)
def test_paths_of_the_wrong_kind_exit_2_with_one_line(tmp_path, small_data_dir, capsys, argv, message):
    paths = {"file": str(tmp_path / "a-file"), "folder": str(tmp_path / "a-folder"), "small": small_data_dir}
    Path(paths["file"]).write_text("not a folder")
    Path(paths["folder"]).mkdir()
    code, err = run_main(capsys, *(a.format(**paths) for a in argv))
    assert_one_line_error(code, err, 2, message.format(**paths))
    assert Path(paths["file"]).read_text() == "not a folder" and not any(Path(paths["folder"]).iterdir())


# --- JSON records that parse but have the wrong shape -------------------------------------------------------


WRONG_SHAPES = ["[]", '"done"', "null", "7", '{"status": "complete"}', '{"epochs": 1']


@pytest.mark.parametrize(
    ("record", "content"),
    [
        (record, content)
        for record in ("metrics", "run", "baseline summary")
        for content in WRONG_SHAPES
        if not (record == "run" and content.startswith('{"status"'))  # a valid, empty run record
    ],
)
def test_records_of_the_wrong_shape_exit_2_naming_the_file(fake_run, small_data_dir, capsys, record, content):
    run = Layout(fake_run).run("r")
    path = {
        "metrics": run.metrics_json(0),
        "run": run.run_json,
        "baseline summary": run.with_run_id("base").summary_json,
    }[record]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Path(path).write_text(content)
    before = snapshot(fake_run, "r", 0)
    argv = ["summary", "--output", fake_run, "--run", "r", "--data", small_data_dir, "--no-verify"]
    code, err = run_main(capsys, *argv, *(["--baseline", "base"] if record == "baseline summary" else []))
    assert_one_line_error(code, err, 2, path)
    assert snapshot(fake_run, "r", 0) == before and not os.path.exists(run.summary_json)


# --- storage options the backend rejects --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("no_such_option=1", "the filesystem rejected the storage options (AioSession.__init__() got an"),
        ("endpoint_url=not a url", "s3://lenet-test/out/predictions: Invalid endpoint: not a url"),
        ("client_kwargs=3", "storage option client_kwargs: must be a table"),
        ("config_kwargs={bad json", "--storage-option config_kwargs: the value is not a valid JSON object"),
        ('config_kwargs={"retries": {"mode": "sometimes"}}', "s3://"),
        ("=x", "use key=value"),
    ],
)
def test_storage_options_the_backend_rejects_exit_2_with_one_line(s3_endpoint, capsys, option, message):
    argv = ["query", "SELECT 1", "--output", s3_endpoint.uri("out"), "--storage-option", option]
    code, err = run_main(capsys, *argv)
    assert_one_line_error(code, err, 2, message)


# --- outputs and inputs the Ray workers cannot reach --------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--output", "memory://lenet", "--seeds", "0"],
        ["nightly", "--output", "memory://lenet", "--seeds", "0"],
        ["infer", "--output", "memory://lenet", "--run", "r"],
        ["train", "--output", "simplecache::memory://lenet", "--seeds", "0"],
        ["infer", "--output", "{out}", "--run", "r", "--input", "memory://images.npy"],
    ],
)
def test_in_process_filesystems_are_refused_before_any_work(tmp_path, capsys, argv):
    out = str(tmp_path / "out")
    code, err = run_main(capsys, *(a.format(out=out) for a in argv))
    assert_one_line_error(code, err, 2, "lives in this process's memory, and the Ray workers")
    assert not os.path.exists(out)
    import fsspec

    assert not fsspec.filesystem("memory").exists("/lenet")  # nothing was written, not even a lock


# --- input files and rows that are not images: InputError, exit 2, nothing replaced -------------------------


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[str, str | None, str]]:
    """name -> (images file, labels file, expected message)."""
    good = [img.tobytes() for img in images(700)]
    short = [*good[:600], good[600][:783], *good[601:]]
    labels = [int(x) for x in fashion().test_labels[:700]]
    idx_labels = tmp_path / "labels-idx1-ubyte"
    bad_labels = fashion().test_labels[:700].copy()
    bad_labels[300] = 10
    helpers.write_idx(idx_labels, bad_labels, False)
    helpers.write_idx(tmp_path / "images-idx3-ubyte", images(700), False)
    return {
        "label out of range": (
            parquet_input(tmp_path / "label.parquet", good, [*labels[:650], 12, *labels[651:]]),
            None,
            "label 12 at row 650 is outside 0-9",
        ),
        "negative label": (
            parquet_input(tmp_path / "neg.parquet", good, [*labels[:5], -1, *labels[6:]]),
            None,
            "label -1 at row 5",
        ),
        "783-byte image": (
            parquet_input(tmp_path / "short.parquet", short, labels),
            None,
            "row 600 has 783 bytes, expected 784",
        ),
        "null label": (
            parquet_input(tmp_path / "null.parquet", good, [*labels[:699], None]),
            None,
            "column 'label' is null at row 699",
        ),
        "IDX label out of range": (str(tmp_path / "images-idx3-ubyte"), str(idx_labels), "label 10"),
    }


@pytest.mark.parametrize(
    "case", ["label out of range", "negative label", "783-byte image", "null label", "IDX label out of range"]
)
def test_bad_rows_are_input_errors_and_replace_nothing(trained_run, tmp_path, case):
    uri, labels, message = _bad_inputs(tmp_path)[case]
    before = snapshot(trained_run, "r", 0)
    with pytest.raises(InputError, match=message) as err:
        score_seed(RunRef(trained_run, "r"), 0, ImageSource(uri=uri, labels_uri=labels, batch_size=256))
    assert err.value.exit_code == 2 and "\n" not in str(err.value)
    assert snapshot(trained_run, "r", 0) == before
    assert [p[:2] for p in committed_partitions(Layout(trained_run))] == [("r", 0)]
    assert storage.list_dir(Layout(trained_run).staging_dir()) == []


def _empty_inputs(tmp_path: Path) -> dict[str, str]:
    np.save(tmp_path / "empty.npy", np.zeros((0, 28, 28), np.uint8))
    helpers.write_idx(tmp_path / "empty-idx3-ubyte.gz", np.zeros((0, 28, 28), np.uint8))
    return {
        "npy": str(tmp_path / "empty.npy"),
        "parquet": parquet_input(tmp_path / "empty.parquet", [], []),
        "idx": str(tmp_path / "empty-idx3-ubyte.gz"),
    }


@pytest.mark.parametrize("kind", ["npy", "parquet", "idx"])
def test_an_empty_input_is_refused_before_anything_is_written(trained_run, tmp_path, capsys, kind):
    uri = _empty_inputs(tmp_path)[kind]
    before = snapshot(trained_run, "r", 0)
    code, err = run_main(capsys, "infer", "--output", trained_run, "--run", "r", "--input", uri)
    assert_one_line_error(code, err, 2, f"{uri}: holds no images; nothing to score")
    assert snapshot(trained_run, "r", 0) == before and not os.path.exists(f"{trained_run}/scored")


def test_an_input_that_is_a_folder_exits_2(trained_run, tmp_path, capsys):
    code, err = run_main(capsys, "infer", "--output", trained_run, "--run", "r", "--input", str(tmp_path))
    assert_one_line_error(code, err, 2, f"{tmp_path}: is a folder, not a file")
