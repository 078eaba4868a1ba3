"""Scoring seeds into Parquet partitions: schema, rows, accuracy, bad inputs (faults: test_partitions.py)."""

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import mxnet as mx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lenet_batch.config import Recipe
from lenet_batch.data.batch import ImageBatch
from lenet_batch.data.classes import CLASS_NAMES
from lenet_batch.data.inputs import ImageSource
from lenet_batch.errors import DataError, ModelFileError
from lenet_batch.scoring import partitions
from lenet_batch.scoring.committed import committed_partitions, read_predictions
from lenet_batch.scoring.partitions import MARKER, PREDICTION_SCHEMA, write_partition
from lenet_batch.scoring.predictor import Predictor
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout, RunRef
from lenet_batch.training import inference, model
from tests.helpers import score_seed
from tests.prediction_helpers import fake_batches, fashion, install_run, snapshot, trained

DOCUMENTED_COLUMNS = [
    ("sample_id", pa.int64(), False),
    ("label", pa.int32(), True),
    ("label_name", pa.string(), True),
    ("prediction", pa.int32(), False),
    ("prediction_name", pa.string(), False),
    ("correct", pa.bool_(), True),
    ("confidence", pa.float32(), False),
    ("probabilities", pa.list_(pa.float32()), False),
    ("model_sha256", pa.string(), False),
    ("scored_at", pa.timestamp("us", tz="UTC"), False),
]


def real_images(n: int) -> np.ndarray:
    """The first n real test images."""
    return fashion().test_images[:n]


def part_file(output, run_id: str, seed: int) -> Path:
    return Path(RunRef(str(output), run_id).partition_dir(seed)) / "part-00000.parquet"


def test_schema_is_exactly_the_documented_one_with_plain_arrow_types():
    assert [(f.name, f.type, f.nullable) for f in PREDICTION_SCHEMA] == DOCUMENTED_COLUMNS
    assert not PREDICTION_SCHEMA.metadata
    assert all(not isinstance(f.type, pa.ExtensionType) for f in PREDICTION_SCHEMA)
    assert "run_id" not in PREDICTION_SCHEMA.names and "seed" not in PREDICTION_SCHEMA.names


def test_predictor_rows_follow_the_model_logits():
    params, _ = trained(0)
    predictor = Predictor(params, "seed 0", mx.cpu())
    imgs = real_images(64)
    labels = (np.arange(64) % 10).astype(np.uint8)
    record = predictor(ImageBatch(np.arange(100, 164, dtype=np.int64), imgs, labels))
    logits = inference.predict_logits(model.load_lenet(params, "x", mx.cpu()), imgs, mx.cpu())
    probs = np.stack(record.column("probabilities").to_numpy(zero_copy_only=False))
    assert record.schema == PREDICTION_SCHEMA and record.num_rows == 64
    assert probs.dtype == np.float32 and probs.shape == (64, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probs, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), rtol=1e-4)
    prediction = record.column("prediction").to_numpy()
    assert np.array_equal(prediction, logits.argmax(axis=1))
    assert np.array_equal(record.column("confidence").to_numpy(), probs.max(axis=1))
    assert record.column("prediction_name").to_pylist() == [CLASS_NAMES[p] for p in prediction]
    assert record.column("label_name").to_pylist() == [CLASS_NAMES[i % 10] for i in range(64)]
    assert record.column("correct").to_pylist() == list(prediction == labels)
    assert record.column("sample_id").to_pylist() == list(range(100, 164))
    assert set(record.column("model_sha256").to_pylist()) == {hashlib.sha256(params).hexdigest()}
    unlabelled = predictor(ImageBatch(np.arange(3, dtype=np.int64), imgs[:3], None))
    assert unlabelled.column("label").null_count == 3 and unlabelled.column("correct").null_count == 3


def test_full_test_split_rows_and_accuracy_equal_the_model_on_10000_images(tmp_path, fashion_mnist):
    install_run(str(tmp_path), "acc", [0, 1])
    layout = Layout(str(tmp_path))
    rows = [
        score_seed(RunRef(str(tmp_path), "acc"), seed, ImageSource(uri=None, batch_size=4096))
        for seed in (0, 1)
    ]
    table = read_predictions(layout, "acc")
    assert table.num_rows == 20_000
    for row in rows:
        params, metrics = trained(row.seed)
        net = model.load_lenet(params, "x", mx.cpu())
        expected = inference.evaluate(
            net, fashion_mnist.test_images, fashion_mnist.test_labels, mx.cpu(), Recipe()
        )
        part = table.filter(pc.equal(table["seed"], row.seed))
        assert row.status == "scored" and row.rows == part.num_rows == 10_000
        assert part["sample_id"].to_pylist() == list(range(10_000))
        assert np.array_equal(part["label"].to_numpy(), fashion_mnist.test_labels)
        from_parquet = float(np.mean(part["correct"].to_numpy()))
        assert from_parquet == pytest.approx(expected, abs=1e-12) and row.accuracy == pytest.approx(expected)
        assert 0.2 < expected < 0.9  # a trained model, not chance
        assert set(part["model_sha256"].to_pylist()) == {metrics["model_sha256"]}
        marker = storage.read_json(storage.join(layout.run("acc").partition_dir(row.seed), MARKER))
        assert marker["rows"] == 10_000 and marker["model_sha256"] == metrics["model_sha256"]
        assert marker["bytes"] == part_file(tmp_path, "acc", row.seed).stat().st_size  # (as read back)
    assert rows[0].accuracy != rows[1].accuracy  # two seeds, two models
    assert pq.read_schema(part_file(tmp_path, "acc", 0)).remove_metadata() == PREDICTION_SCHEMA


def test_row_groups_are_sized_for_scans_and_zstd_compressed(tmp_path, monkeypatch):
    monkeypatch.setattr(partitions, "ROW_GROUP_ROWS", 1000)
    layout = Layout(str(tmp_path))
    marker = write_partition(layout.run("rg"), 0, fake_batches(2500, batch_size=300), "f" * 64)
    meta = pq.ParquetFile(part_file(tmp_path, "rg", 0)).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [1000, 1000, 500]
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert marker.rows == 2500 and marker.file == "part-00000.parquet"


@pytest.fixture
def scored_run(tmp_path) -> str:
    """A run "r" with seeds 0 and 1 trained and seed 0 scored (the predictions a bad input must not touch)."""
    out = str(tmp_path / "out")
    install_run(out, "r", [0, 1])
    split = {"test_images": real_images(300), "test_labels": np.zeros(300, np.uint8)}
    score_seed(RunRef(out, "r"), 0, ImageSource(uri=None, batch_size=128), test_split=split)
    return out


def _corrupt_params(out: str, keep_digest: bool) -> None:
    run = RunRef(out, "r")
    params = bytearray(storage.read_bytes(run.model_params(0)))
    params[len(params) // 2 :] = b"\x00" * (len(params) - len(params) // 2)
    params = params[: len(params) - 1000]
    storage.write_bytes_atomic(run.model_params(0), bytes(params))
    if keep_digest:  # a damaged file that matches its recorded digest: the loader itself must refuse it
        metrics = storage.read_json(run.metrics_json(0))
        metrics["model_sha256"] = hashlib.sha256(params).hexdigest()
        storage.write_json_atomic(run.metrics_json(0), metrics)


@pytest.mark.parametrize(
    "case, error, match",
    [
        ("missing-run", ModelFileError, "seed 0 of run nope has no finished model"),
        ("seed-without-model", ModelFileError, "seed 7 of run r has no finished model"),
        ("incomplete-seed", ModelFileError, "seed 0 of run r has no finished model"),
        ("missing-params", ModelFileError, "cannot read the model of seed 0"),
        ("corrupt-params", ModelFileError, "differs from .* in metrics.json"),
        ("corrupt-params-same-digest", ModelFileError, r"model.params\): .*parameter file"),
        ("wrong-shape-npy", DataError, r"wrong.npy: a .npy input must be uint8 of shape \(N, 28, 28\)"),
    ],
)
def test_bad_inputs_raise_user_errors_and_leave_existing_predictions_untouched(
    scored_run, case, error, match
):
    out, layout = scored_run, Layout(scored_run)
    before = snapshot(out, "r", 0)
    run_id, seed, input_uri = "r", 0, None
    if case == "missing-run":
        run_id = "nope"
    elif case == "seed-without-model":
        seed = 7
    elif case == "incomplete-seed":
        storage.write_json_atomic(layout.run("r").metrics_json(0), {"status": "running"})
    elif case == "missing-params":
        os.unlink(layout.run("r").model_params(0))
    elif case.startswith("corrupt-params"):
        _corrupt_params(out, keep_digest=case.endswith("same-digest"))
    elif case == "wrong-shape-npy":
        input_uri = str(Path(out).parent / "wrong.npy")
        np.save(input_uri, np.zeros((10, 32, 32), np.uint8))
    with pytest.raises(error, match=match) as err:
        score_seed(RunRef(out, run_id), seed, ImageSource(uri=input_uri, batch_size=128))
    assert err.value.exit_code == 2 and "\n" not in str(err.value)
    assert snapshot(out, "r", 0) == before
    assert [p[:2] for p in committed_partitions(layout)] == [("r", 0)]
    assert storage.list_dir(layout.staging_dir() + "/r") == []


def test_unlabelled_npy_input_has_null_labels_and_no_accuracy(scored_run, tmp_path):
    npy = str(tmp_path / "x.npy")
    np.save(npy, real_images(700))
    row = score_seed(RunRef(scored_run, "r"), 1, ImageSource(uri=npy, batch_size=256))
    assert row.rows == 700 and row.accuracy is None
    table = read_predictions(Layout(scored_run), "r", seeds=[1], input_name="x")  # scored/input=x/
    assert table["label"].null_count == table["correct"].null_count == table["label_name"].null_count == 700
    assert table["seed"].to_pylist() == [1] * 700 and table["run_id"].to_pylist() == ["r"] * 700
    with pytest.raises(DataError, match=r"no committed predictions for seeds \[5\]"):
        read_predictions(Layout(scored_run), "r", seeds=[1, 5], input_name="x")


@pytest.mark.slow
def test_infer_seeds_on_a_local_ray_scores_finished_seeds_and_refuses_seeds_without_a_model(tmp_path):
    ray = pytest.importorskip("ray")
    from lenet_batch.config import Settings
    from lenet_batch.pipeline import single

    out = str(tmp_path)
    install_run(out, "ray", [0, 1])
    settings = Settings(output=out, run_id="ray", infer_batch_size=4096, cpus_per_seed=1, max_retries=0)
    with pytest.raises(ModelFileError, match=r"no finished model for seed\(s\) \[3\] \(trained: \[0, 1\]\)"):
        single.infer(replace(settings, seeds="0,1,3"))  # before anything is scored
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:  # a session is open: the seeds are scored as Ray tasks
        rows = [r.to_row() for r in single.infer(replace(settings, seeds="0,1")).rows]
    finally:
        ray.shutdown()
    assert [(r["seed"], r["status"], r["rows"]) for r in rows] == [
        (0, "scored", 10_000),
        (1, "scored", 10_000),
    ]
    stage = storage.read_json(RunRef(out, "ray").run_json)["stages"]["infer"]
    assert stage["status"] == "complete" and [r["seed"] for r in stage["seeds"]] == [0, 1]
    table = read_predictions(Layout(out), "ray")
    assert table.num_rows == 20_000
    for row in rows[:2]:
        part = table.filter(pc.equal(table["seed"], row["seed"]))
        assert float(np.mean(part["correct"].to_numpy())) == pytest.approx(row["accuracy"])
