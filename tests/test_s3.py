"""The whole scoring path on S3 (moto on 127.0.0.1): train, score, read back, query, fail safely."""

import mxnet as mx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lenet_batch.config import Recipe
from lenet_batch.data import inputs as images
from lenet_batch.data.inputs import ImageSource
from lenet_batch.errors import DataError
from lenet_batch.records import DataInfo
from lenet_batch.scoring.committed import read_predictions
from lenet_batch.scoring.partitions import write_partition
from lenet_batch.scoring.query import run_query
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from lenet_batch.training import inference, model
from lenet_batch.training.seed import run_seed
from tests import helpers
from tests.helpers import score_seed
from tests.prediction_helpers import fake_batches, fashion, snapshot, tiny_arrays


def s3_keys(endpoint, prefix: str = "") -> list[str]:
    fs, _ = storage.get_fs(endpoint.uri())
    fs.invalidate_cache()
    return sorted(p.split("/", 1)[1] for p in fs.find(f"{endpoint.bucket}/{prefix}"))


def test_train_score_read_and_query_round_trip_on_s3(s3_endpoint):
    out = s3_endpoint.uri("lenet")
    layout = Layout(out)
    for seed in (0, 1):
        run_seed(
            tiny_arrays(),
            data_info=DataInfo("tiny"),
            recipe=Recipe(epochs=1),
            seed=seed,
            run=layout.run("s3run"),
        )
    split = {"test_images": fashion().test_images, "test_labels": fashion().test_labels}
    source = ImageSource(batch_size=4096)
    rows = [score_seed(layout.run("s3run"), seed, source, test_split=split).to_row() for seed in (0, 1)]
    assert [r["rows"] for r in rows] == [10_000, 10_000]
    keys = s3_keys(s3_endpoint, "lenet/predictions")
    assert keys == [
        f"lenet/predictions/run_id=s3run/seed={s}/{name}"
        for s in (0, 1)
        for name in ("_COMMITTED.json", "part-00000.parquet")
    ]
    table = read_predictions(layout, "s3run")
    assert table.num_rows == 20_000 and table.schema.remove_metadata().field("seed").type == pa.int64()
    for row in rows:
        params = storage.read_bytes(layout.run("s3run").model_params(row["seed"]))
        net = model.load_lenet(params, "s3", mx.cpu())
        expected = inference.evaluate(net, split["test_images"], split["test_labels"], mx.cpu())
        part = table.filter(pc.equal(table["seed"], row["seed"]))
        assert float(np.mean(part["correct"].to_numpy())) == pytest.approx(expected) == row["accuracy"]
    by_seed = run_query(
        "SELECT run_id, seed, count(*) AS n, avg(correct::int) AS acc FROM predictions "
        "WHERE seed = 1 GROUP BY ALL",
        layout,
    )
    assert by_seed.to_pylist() == [
        {"run_id": "s3run", "seed": 1, "n": 10_000, "acc": pytest.approx(rows[1]["accuracy"])}
    ]


def test_a_failed_write_on_s3_leaves_no_staged_object_and_the_old_partition(s3_endpoint):
    out = s3_endpoint.uri("lenet")
    layout = Layout(out)
    write_partition(layout.run("A"), 0, fake_batches(2000, seed=1), "a" * 64)
    write_partition(layout.run("B"), 0, fake_batches(100, seed=2), "b" * 64)
    before = [snapshot(out, "A", 0), snapshot(out, "B", 0)]

    def failing():
        yield from fake_batches(3000, seed=3)
        raise RuntimeError("scoring crashed")

    # s3fs completes the upload of a file closed by an exception: the staging object must absorb that.
    with pytest.raises(RuntimeError, match="scoring crashed"):
        write_partition(layout.run("A"), 0, failing(), "c" * 64)
    assert [snapshot(out, "A", 0), snapshot(out, "B", 0)] == before
    assert not [k for k in s3_keys(s3_endpoint, "lenet/predictions") if "_staging" in k]
    assert read_predictions(layout, "A").num_rows == 2000
    # A rerun of A replaces A's partition only.
    write_partition(layout.run("A"), 0, fake_batches(700, seed=4), "d" * 64)
    assert snapshot(out, "B", 0) == before[1]
    assert run_query(
        "SELECT run_id, count(*) AS n FROM predictions GROUP BY run_id ORDER BY run_id", layout
    ).to_pylist() == [{"run_id": "A", "n": 700}, {"run_id": "B", "n": 100}]


def test_image_inputs_stream_from_s3(s3_endpoint, tmp_path):
    imgs, labels = fashion().test_images[:300], fashion().test_labels[:300]
    fs, _ = storage.get_fs(s3_endpoint.uri())
    np.save(tmp_path / "x.npy", imgs)
    helpers.write_idx(tmp_path / "x-images.gz", imgs)
    helpers.write_idx(tmp_path / "x-labels.gz", labels)
    pq.write_table(
        pa.table({"image": [bytes(r) for r in imgs.reshape(300, -1)], "label": labels}), tmp_path / "x.pq"
    )
    for name in ("x.npy", "x-images.gz", "x-labels.gz", "x.pq"):
        fs.put_file(str(tmp_path / name), f"{s3_endpoint.bucket}/in/{name}")
    cases = [("x.npy", None, None), ("x-images.gz", "x-labels.gz", labels), ("x.pq", None, labels)]
    for name, labels_name, expected_labels in cases:
        labels_uri = s3_endpoint.uri("in", labels_name) if labels_name else None
        batches = list(images.iter_batches(s3_endpoint.uri("in", name), 128, labels_uri=labels_uri))
        assert [len(b) for b in batches] == [128, 128, 44]
        assert np.array_equal(np.concatenate([b.images for b in batches]), imgs)
        got_labels = None if batches[0].labels is None else np.concatenate([b.labels for b in batches])
        assert (got_labels is None and expected_labels is None) or np.array_equal(got_labels, expected_labels)
    fs.pipe_file(f"{s3_endpoint.bucket}/in/bad.npy", fs.cat_file(f"{s3_endpoint.bucket}/in/x.npy")[:-10])
    with pytest.raises(DataError, match="bad.npy: truncated"):
        images.iter_batches(s3_endpoint.uri("in", "bad.npy"), 128)
