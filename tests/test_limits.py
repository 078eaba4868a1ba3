"""--train-limit and --test-limit: a deterministic, class-balanced subset, part of the run's data."""

import json

import numpy as np
import pytest

from lenet_batch import cli, config
from lenet_batch.config import Recipe
from lenet_batch.data.limits import balanced_indices, limited, quotas
from lenet_batch.errors import ConfigError, DataError
from lenet_batch.pipeline.plan import Request, plan
from lenet_batch.records import DataInfo
from lenet_batch.state.run_state import RunState, SeedState
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import EpochMetrics, SeedMetrics


@pytest.mark.parametrize(
    ("limit", "expected"), [(6000, [600] * 10), (1005, [101] * 5 + [100] * 5), (3, [1] * 3 + [0] * 7)]
)
def test_quotas_share_the_limit_out_class_by_class(limit, expected):
    assert quotas(limit) == expected and sum(quotas(limit)) == limit


def test_the_subset_is_the_first_of_each_class_in_file_order():
    labels = np.array([3, 1, 3, 0, 1, 2, 4, 5, 6, 7, 8, 9, 0, 3, 2, 4, 5, 6, 7, 8, 9, 1] * 2, dtype=np.uint8)
    keep = balanced_indices(labels, 20, "train")
    assert np.all(np.diff(keep) > 0)  # file order
    assert np.bincount(labels[keep], minlength=10).tolist() == [2] * 10
    for c in range(10):  # the first two of each class, none later
        assert keep[labels[keep] == c].tolist() == np.flatnonzero(labels == c)[:2].tolist()
    assert balanced_indices(labels, 20, "train").tolist() == keep.tolist()


@pytest.mark.parametrize(
    ("limit", "said"),
    [(45, "--test-limit 45: the test split has only 44 images"), (40, "class 'ankle boot' has 2 image")],
)
def test_a_split_too_small_for_the_limit_is_refused(limit, said):
    labels = np.array(list(range(9)) * 4 + [9, 9] + list(range(6)), dtype=np.uint8)  # 44, two of class 9
    with pytest.raises(DataError, match=said):
        balanced_indices(labels, limit, "test")


def test_limited_cuts_both_splits_and_records_the_limits(fashion_mnist):
    small = limited(fashion_mnist, 6000, 1000)
    assert (len(small.train_images), len(small.test_images)) == (6000, 1000)
    assert np.bincount(small.test_labels).tolist() == [100] * 10
    info = small.info()
    assert (info.train_limit, info.test_limit, info.sha256) == (6000, 1000, fashion_mnist.digests)
    assert limited(fashion_mnist, None, None) is fashion_mnist


def test_data_describes_the_subset(capsys, monkeypatch):
    assert cli.main(["data", "--train-limit", "1000", "--test-limit", "500", "--json", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["train_limit"], doc["test_limit"]) == (1000, 500)
    assert doc["splits"]["test"]["class_balance"] == dict.fromkeys(doc["splits"]["test"]["class_balance"], 50)
    assert doc["splits"]["train"]["images"]["shape"] == [1000, 28, 28]


def test_data_info_round_trips_and_older_records_read_as_whole_splits():
    info = DataInfo(
        source="s", sha256={"test_images": "c" * 64}, verified=True, train_limit=10, test_limit=20
    )
    assert DataInfo.from_json(json.loads(json.dumps(info.to_json()))) == info
    older = DataInfo.from_json({"source": "s", "sha256": {}, "verified": True})
    assert (older.train_limit, older.test_limit) == (None, None)


@pytest.mark.parametrize(
    ("recorded", "requested", "said"),
    [
        ((6000, 1000), (None, 1000), "data train_limit recorded 6000 (seeds [0]), requested whole split"),
        ((None, None), (None, 500), "data test_limit recorded whole split (seeds [0]), requested 500"),
        ((6000, 1000), (6000, 2000), "data test_limit recorded 1000 (seeds [0]), requested 2000"),
    ],
)
def test_a_run_refuses_other_limits_for_its_seeds(recorded, requested, said):
    def data(limits):
        return DataInfo(
            sha256={"test_images": "c" * 64}, verified=True, train_limit=limits[0], test_limit=limits[1]
        )

    epoch = EpochMetrics(1, 0.5, 0.8, 0.8, 1.0)
    metrics = SeedMetrics("r", 0, Recipe(epochs=1), (epoch,), "m" * 64, data(recorded))
    state = RunState(RunRef("/out", "r"), seeds={0: SeedState(0, metrics=metrics)})
    asked = Request(("train",), (0,), Recipe(epochs=1), data(requested))
    with pytest.raises(ConfigError, match=said.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        plan(state, asked)
    same = Request(("train",), (0,), Recipe(epochs=1), data(recorded))
    assert plan(state, same).steps[0].action == "skip"


@pytest.mark.parametrize("value", [0, -5])
def test_a_limit_below_one_is_refused(value):
    with pytest.raises(ConfigError, match="--train-limit must be at least 1"):
        config.resolve({"train_limit": value}, env={})
    with pytest.raises(ConfigError, match="--test-limit must be at least 1"):
        config.resolve({}, env={"LENET_BATCH_TEST_LIMIT": str(value)})


@pytest.mark.parametrize(
    ("recorded", "given", "used"),
    [
        ((6000, 1000), None, (6000, 1000)),
        ((6000, 1000), 1000, (6000, 1000)),
        ((None, None), None, (None, None)),
    ],
)
def test_a_runs_evaluation_uses_the_test_subset_it_recorded(recorded, given, used):
    from lenet_batch.config import DataRequest
    from lenet_batch.data.limits import evaluation_limits

    info = DataInfo(train_limit=recorded[0], test_limit=recorded[1])
    data = evaluation_limits(DataRequest("d", True, None, given), info, "r")
    assert (data.uri, data.train_limit, data.test_limit) == ("d", *used)


@pytest.mark.parametrize(
    ("recorded", "given", "said"),
    [(1000, 2000, "on --test-limit 1000; scoring its evaluation on --test-limit 2000"), (None, 500, "whole")],
)
def test_a_runs_evaluation_on_another_test_subset_is_refused(recorded, given, said):
    from lenet_batch.config import DataRequest
    from lenet_batch.data.limits import evaluation_limits

    with pytest.raises(ConfigError, match=f"run r was trained and evaluated .*{said}.*Nothing was written"):
        evaluation_limits(DataRequest(test_limit=given), DataInfo(test_limit=recorded), "r")
