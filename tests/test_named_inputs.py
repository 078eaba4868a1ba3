"""Scoring other images: a custom --input is kept apart from the evaluation, named, and queried by name."""

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lenet_batch import cli
from lenet_batch.data.inputs import ImageSource, name_from_uri
from lenet_batch.scoring.committed import read_predictions
from lenet_batch.store.layout import Layout, RunRef
from tests import helpers
from tests.helpers import score_seed
from tests.input_helpers import images, trained_run_at
from tests.prediction_helpers import fashion, snapshot


@pytest.fixture
def trained_run(tmp_path) -> str:
    return trained_run_at(str(tmp_path / "out"))


def test_a_custom_input_is_kept_apart_from_the_runs_evaluation(trained_run, tmp_path):
    npy = tmp_path / "street photos.npy"
    np.save(npy, images(64))
    before = snapshot(trained_run, "r", 0)
    source = ImageSource(uri=str(npy), batch_size=50)
    result = score_seed(RunRef(trained_run, "r"), 0, source)
    assert (result.rows, source.partition_name) == (64, "street_photos")
    assert snapshot(trained_run, "r", 0) == before  # the evaluation the summary reads is untouched
    assert read_predictions(Layout(trained_run), "r").num_rows == 500
    folder = Path(trained_run) / "scored" / "input=street_photos" / "run_id=r" / "seed=0"
    marker = json.loads((folder / "_COMMITTED.json").read_text())
    assert marker["rows"] == 64 and marker["input"] == str(npy)
    assert pq.read_table(folder / "part-00000.parquet").num_rows == 64
    # the evaluation's readers never see it: predictions/ holds only the test split
    assert sorted(p.relative_to(trained_run).parts[0] for p in Path(trained_run).rglob("*.parquet")) == [
        "predictions",
        "scored",
    ]


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("/data/images.npy", "images"),
        ("s3://bucket/batch 7/new images.parquet", "new_images"),
        ("/data/t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"),
        ("/data/..hidden.npy", "hidden"),
        ("/data/ü.npy", "input"),
    ],
)
def test_input_names_from_file_names_are_one_safe_path_segment(uri, name):
    assert name_from_uri(uri) == name


def test_a_named_input_is_queried_by_name(trained_run, tmp_path, capsys):
    npy = tmp_path / "x.npy"
    np.save(npy, images(40))
    score_seed(RunRef(trained_run, "r"), 0, ImageSource(uri=str(npy), input_name="mine", batch_size=64))
    sql = "SELECT count(*) AS n FROM predictions"
    assert cli.main(["query", sql, "--output", trained_run, "--input-name", "mine", "--json"]) == 0
    assert cli.main(["query", sql, "--output", trained_run, "--json"]) == 0
    assert [json.loads(line)["n"] for line in capsys.readouterr().out.splitlines()] == [40, 500]


def test_idx_inputs_keep_working_with_gzip_and_labels(trained_run, tmp_path):
    helpers.write_idx(tmp_path / "im-idx3-ubyte.gz", images(30))
    (tmp_path / "lb-idx1-ubyte.gz").write_bytes(
        gzip.compress(b"\x00\x00\x08\x01" + (30).to_bytes(4, "big") + fashion().test_labels[:30].tobytes())
    )
    source = ImageSource(
        uri=str(tmp_path / "im-idx3-ubyte.gz"), labels_uri=str(tmp_path / "lb-idx1-ubyte.gz"), batch_size=8
    )
    assert score_seed(RunRef(trained_run, "r"), 0, source).accuracy is not None


def test_an_input_scored_again_is_skipped_until_its_bytes_change_or_force(trained_run, tmp_path, capsys):
    npy = tmp_path / "batch.npy"
    np.save(npy, images(40))
    argv = ["infer", "--output", trained_run, "--run", "r", "--input", str(npy), "--json", "-q"]

    def statuses(*extra: str) -> list[str]:
        assert cli.main([*argv, *extra]) == 0
        return [row["status"] for row in json.loads(capsys.readouterr().out)]

    assert statuses() == ["scored"]
    marker = Path(trained_run) / "scored" / "input=batch" / "run_id=r" / "seed=0" / "_COMMITTED.json"
    first = marker.stat().st_mtime_ns
    assert statuses() == ["skipped"] and marker.stat().st_mtime_ns == first
    assert statuses("--force") == ["scored"]
    np.save(npy, images(41))  # other bytes under the same name: scored again
    assert statuses() == ["scored"] and json.loads(marker.read_text())["rows"] == 41
