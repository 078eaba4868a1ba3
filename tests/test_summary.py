"""Summary aggregation on hand-built predictions whose answers are known (the gate: test_gate.py)."""

import json
import math

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from lenet_batch.errors import DataError
from lenet_batch.store.seed_records import SeedMetrics
from lenet_batch.summary import disagreement, statistics
from lenet_batch.summary.types import Interval
from tests import synthetic_runs as syn

# Six samples, three seeds: (label, [(prediction, confidence) for seeds 0, 1, 2]).
# Confidence p goes to the predicted class and (1 - p) / 9 to each other class.
CASES = [
    (0, [(0, 0.9), (0, 0.9), (0, 0.9)]),  # all right
    (1, [(1, 0.4), (1, 0.4), (2, 0.99)]),  # vote says 1 (right); one confident seed pulls the ensemble to 2
    (2, [(3, 0.5), (4, 0.5), (2, 0.9)]),  # three-way tie: lowest class 2 wins (right); ensemble 2
    (3, [(5, 0.5), (4, 0.5), (3, 0.6)]),  # three-way tie: lowest class 3 wins (right); ensemble 3
    (9, [(9, 0.9), (1, 0.5), (0, 0.5)]),  # three-way tie: lowest class 0 wins (wrong); ensemble 9
    (5, [(6, 0.4), (6, 0.4), (5, 0.99)]),  # vote says 6 (wrong); ensemble 5
]
SEED_ACCURACY = {0: 3 / 6, 1: 2 / 6, 2: 4 / 6}
ENSEMBLE_ACCURACY = 5 / 6
MAJORITY_ACCURACY = 4 / 6
DISAGREEMENT = {(0, 1): 3 / 6, (0, 2): 5 / 6, (1, 2): 5 / 6}


def probabilities(prediction: int, confidence: float) -> list[float]:
    """A 10-class vector with `confidence` on the prediction and the rest spread evenly."""
    vector = [(1 - confidence) / 9] * 10
    vector[prediction] = confidence
    return vector


def predictions_table(seeds=(0, 1, 2), cases=CASES, run_id="r1") -> pa.Table:
    """A table with the predictions schema of the infer stage, built from CASES."""
    rows = [
        {
            "run_id": run_id,
            "seed": seed,
            "sample_id": sid,
            "label": label,
            "prediction": votes[seed][0],
            "correct": votes[seed][0] == label,
            "confidence": votes[seed][1],
            "probabilities": probabilities(*votes[seed]),
        }
        for seed in seeds
        for sid, (label, votes) in enumerate(cases)
    ]
    schema = pa.schema(
        [
            ("run_id", pa.string()),
            ("seed", pa.int64()),
            ("sample_id", pa.int64()),
            ("label", pa.int32()),
            ("prediction", pa.int32()),
            ("correct", pa.bool_()),
            ("confidence", pa.float32()),
            ("probabilities", pa.list_(pa.float32())),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def metrics_for(seed: int) -> SeedMetrics:
    """A metrics.json as training writes it, with two epochs."""
    epochs = [
        {
            "epoch": e,
            "train_loss": 1.0 / e + seed,
            "train_accuracy": 0.5 + 0.1 * e,
            "test_accuracy": 0.6,
            "seconds": 2.0,
        }
        for e in (1, 2)
    ]
    doc = {
        "status": "complete",
        "run_id": "r1",
        "seed": seed,
        "recipe": {},
        "epochs": epochs,
        "test_accuracy": 0.6,
        "train_seconds": 4.0,
        "model_sha256": "0" * 64,
    }
    return SeedMetrics.from_json(doc, "metrics.json")


@pytest.fixture
def result() -> statistics.RunStatistics:
    return statistics.compute_statistics(predictions_table(), {s: metrics_for(s) for s in (0, 1, 2)}, "r1")


def test_per_seed_accuracy_is_computed_from_predictions(result):
    got = dict(zip(result.per_seed["seed"], result.per_seed["test_accuracy"], strict=True))
    assert got == pytest.approx(SEED_ACCURACY)
    across = result.summary.across_seeds
    assert across.mean == pytest.approx(np.mean(list(SEED_ACCURACY.values())))
    assert across.min == pytest.approx(2 / 6) and across.max == pytest.approx(4 / 6)


def test_per_seed_training_numbers_come_from_metrics(result):
    row = result.per_seed.set_index("seed").loc[1]
    assert row["final_train_loss"] == pytest.approx(1.5)
    assert row["final_train_accuracy"] == pytest.approx(0.7)
    assert row["train_seconds"] == 4.0 and row["epochs"] == 2 and row["metrics_test_accuracy"] == 0.6


def test_ensemble_uses_mean_probability_not_votes(result):
    assert result.summary.ensemble.accuracy == pytest.approx(ENSEMBLE_ACCURACY)
    assert result.summary.ensemble.n_samples == 6
    assert list(result.samples["ensemble"]) == [0, 2, 2, 3, 9, 5]


def test_majority_vote_breaks_ties_by_lowest_class(result):
    assert list(result.samples["majority_vote"]) == [0, 1, 2, 3, 0, 6]
    assert result.summary.majority_vote.accuracy == pytest.approx(MAJORITY_ACCURACY)
    assert result.summary.majority_vote.tie_break == "lowest class index"


def test_pairwise_disagreement_matrix_and_mean(result):
    matrix = np.array(result.summary.disagreement.matrix)
    for (i, j), share in DISAGREEMENT.items():
        assert matrix[i, j] == pytest.approx(share) and matrix[j, i] == pytest.approx(share)
    assert np.all(np.diag(matrix) == 0)
    assert result.summary.disagreement.mean == pytest.approx(np.mean(list(DISAGREEMENT.values())))


def test_confusion_matrix_is_of_the_ensemble(result):
    matrix = np.array(result.summary.confusion_matrix)
    assert matrix.sum() == 6 and matrix[1, 2] == 1
    assert [matrix[c, c] for c in (0, 1, 2, 3, 5, 9)] == [1, 0, 1, 1, 1, 1]


def test_per_class_accuracy_across_seeds(result):
    class1 = next(r for r in result.summary.per_class if r.class_index == 1)
    assert class1.mean == pytest.approx(2 / 3)
    assert class1.std == pytest.approx(np.std([1, 1, 0], ddof=1))
    assert (class1.min, class1.max, class1.ensemble_accuracy) == (0.0, 1.0, 0.0)
    assert class1.class_name == "trouser"
    assert len(result.per_class_by_seed) == 3 * 6


@pytest.mark.parametrize("values", [[0.5, 0.6, 0.7, 0.8], [0.88, 0.885, 0.882], [0.9, 0.9, 0.9]])
def test_confidence_interval_matches_scipy_t_interval(values):
    got = statistics.spread(values)
    n, mean, std = len(values), np.mean(values), np.std(values, ddof=1)
    assert got.std == pytest.approx(std)
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    assert got.n_seeds == n and got.ci95.to_json() == pytest.approx([mean - half, mean + half])
    assert isinstance(got.ci95, Interval)
    if std > 0:
        expected = stats.t.interval(0.95, n - 1, mean, stats.sem(values))
        assert (got.ci95.low, got.ci95.high) == pytest.approx(expected)


def test_one_seed_leaves_std_ci_and_disagreement_undefined():
    one = statistics.compute_statistics(predictions_table(seeds=(2,)), {2: metrics_for(2)}, "r1")
    doc = one.summary.to_json()
    assert doc["across_seeds"]["mean"] == pytest.approx(4 / 6)
    assert doc["across_seeds"]["std"] is None and doc["across_seeds"]["ci95"] is None
    assert doc["disagreement"]["mean"] is None and doc["per_class"][0]["std"] is None
    assert doc["ensemble"]["accuracy"] == pytest.approx(4 / 6)
    json.dumps(doc, allow_nan=False)


def test_summary_dict_is_strict_json_and_keeps_key_numbers(result):
    doc = json.loads(json.dumps(result.summary.to_json(), allow_nan=False))
    assert doc["seeds"] == [0, 1, 2] and doc["n_seeds"] == 3
    assert {
        "across_seeds",
        "per_seed",
        "per_class",
        "ensemble",
        "majority_vote",
        "disagreement",
        "confusion_matrix",
        "failed_seeds",
        "train_seconds",
        "class_names",
    } <= set(doc)
    # The numbers survive the round trip, not only the keys.
    across = result.summary.across_seeds
    assert {k: doc["across_seeds"][k] for k in ("mean", "std", "min", "max")} == pytest.approx(
        {k: getattr(across, k) for k in ("mean", "std", "min", "max")}
    )
    assert doc["across_seeds"]["ci95"] == pytest.approx([across.ci95.low, across.ci95.high])
    assert [r["test_accuracy"] for r in doc["per_seed"]] == pytest.approx(
        result.per_seed["test_accuracy"].tolist()
    )
    assert doc["ensemble"]["accuracy"] == pytest.approx(result.summary.ensemble.accuracy)
    assert doc["confusion_matrix"] == [list(row) for row in result.summary.confusion_matrix]
    assert np.allclose(doc["disagreement"]["matrix"], result.summary.disagreement.matrix)
    assert doc["class_names"] == list(result.summary.class_names) and doc["failed_seeds"] == []


def test_missing_metrics_leave_training_columns_empty():
    doc = statistics.compute_statistics(predictions_table(), {0: metrics_for(0)}, "r1").summary.to_json()
    assert doc["per_seed"][1]["train_seconds"] is None and doc["per_seed"][1]["epochs"] is None
    assert doc["train_seconds"]["n_seeds"] == 1


def test_unlabelled_rows_are_ignored_and_ensemble_uses_common_samples():
    table = predictions_table().to_pandas()
    table.loc[0, "label"] = None  # seed 0, sample 0 has no label: it leaves seed 0's accuracy
    table = table[~((table["seed"] == 2) & (table["sample_id"] == 5))]  # seed 2 never scored sample 5
    result = statistics.compute_statistics(table, {}, "r1")
    assert result.per_seed["test_accuracy"].tolist() == pytest.approx([2 / 5, 2 / 6, 3 / 5])
    assert result.summary.ensemble.n_samples == 4  # samples 1-4: scored and labelled for every seed


@pytest.mark.parametrize("column, value", [("label", 10), ("prediction", -1)])
def test_out_of_range_classes_are_data_errors(column, value):
    table = predictions_table().to_pandas()
    table.loc[3, column] = value
    with pytest.raises(DataError, match="outside 0..9"):
        statistics.compute_statistics(table, {}, "r1")


def test_duplicate_rows_are_data_errors():
    table = pa.concat_tables([predictions_table(), predictions_table(seeds=(0,))])
    with pytest.raises(DataError, match="more than once"):
        statistics.compute_statistics(table, {}, "r1")


def brute_force_disagreement(votes: np.ndarray) -> np.ndarray:
    """The definition, pair by pair."""
    n = len(votes)
    return np.array([[np.mean(votes[i] != votes[j]) for j in range(n)] for i in range(n)])


@pytest.mark.parametrize("seeds, samples", [(2, 7), (5, 100), (30, 5000), (3, disagreement.BLOCK * 2 + 3)])
def test_vectorised_disagreement_equals_the_pairwise_definition(seeds, samples):
    votes = np.random.default_rng(seeds).integers(0, 10, (seeds, samples))
    votes[1] = votes[0]  # a pair that always agrees
    got = disagreement.pairwise(votes, 10)
    assert np.array_equal(got, brute_force_disagreement(votes))  # exact: counts, then one division
    assert got[0, 1] == 0.0 and np.all(np.diag(got) == 0.0)


def test_disagreement_statistics_describe_every_pair():
    matrix = brute_force_disagreement(np.random.default_rng(0).integers(0, 3, (6, 50)))
    got = disagreement.describe_pairs(matrix, [10, 11, 12, 13, 14, 15])
    pairs = matrix[np.triu_indices(6, k=1)]
    assert got.n_pairs == 15 and got.mean == pytest.approx(pairs.mean())
    assert got.median == pytest.approx(np.median(pairs)) and got.max == pytest.approx(pairs.max())
    assert got.quantiles["p10"] == pytest.approx(np.quantile(pairs, 0.1))
    a, b = got.most_different_pair.seeds
    assert matrix[a - 10, b - 10] == pairs.max() and [list(r) for r in got.matrix] == matrix.tolist()


@pytest.mark.parametrize("n_seeds, kept", [(50, True), (51, False)])
def test_summary_json_keeps_the_matrix_up_to_50_seeds_and_statistics_always(n_seeds, kept):
    doc = statistics.compute_statistics(
        syn.predictions_table("r", range(n_seeds), 40), {}, "r"
    ).summary.to_json()
    d = doc["disagreement"]
    assert (d["matrix"] is not None) is kept and d["seeds"] == list(range(n_seeds))
    assert d["n_pairs"] == n_seeds * (n_seeds - 1) // 2 and 0 <= d["min"] <= d["median"] <= d["max"] > 0
    assert d["mean"] == pytest.approx(np.mean([r["mean_disagreement"] for r in doc["per_seed"]]))


def test_summary_json_of_256_seeds_is_small():
    table, metrics = syn.predictions_table("r", range(256), 100), syn.metrics("r", range(256), 3)
    text = json.dumps(statistics.compute_statistics(table, metrics, "r").summary.to_json(), allow_nan=False)
    assert len(text) < 250_000, len(text)  # it was 1 MB with the 256 x 256 matrix


def test_arrow_and_pandas_inputs_give_the_same_summary():
    table = predictions_table()
    from_arrow = statistics.compute_statistics(table, {}, "r1").summary.to_json()
    from_pandas = statistics.compute_statistics(table.to_pandas(), {}, "r1").summary.to_json()
    assert json.dumps(from_arrow, sort_keys=True) == json.dumps(from_pandas, sort_keys=True)


def test_wrong_length_probability_vectors_are_data_errors():
    table = predictions_table().to_pandas()
    table.at[2, "probabilities"] = [0.5, 0.5]
    with pytest.raises(DataError, match="10 values per row; found \\[2, 10\\]"):
        statistics.compute_statistics(table, {}, "r1")


def test_per_seed_rows_carry_attempts_and_hosts():
    metrics = syn.metrics("r", [3, 4], 2)  # seed 3 needed two attempts on two hosts
    table = syn.predictions_table("r", [3, 4], 30)
    rows = statistics.compute_statistics(table, metrics, "r").summary.to_json()["per_seed"]
    assert [(r["attempts"], r["hosts"]) for r in rows] == [(2, "node-b, node-a"), (1, "node-a")]
