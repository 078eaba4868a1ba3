"""Synthetic predictions, per-epoch metrics and pictures for the report and summary-stage tests."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lenet_batch.store.seed_records import SeedMetrics

N_SAMPLES = 120


def predictions_table(run_id: str, accuracy: float, seeds=(0, 1, 2), n=N_SAMPLES) -> pa.Table:
    """Random predictions right on about `accuracy` of n samples per seed, in the infer stage's schema."""
    rng = np.random.default_rng(len(run_id) + int(accuracy * 1000))
    labels = np.arange(n) % 10
    columns: dict[str, list] = {k: [] for k in ("seed", "sample_id", "label", "prediction", "probabilities")}
    for seed in seeds:
        wrong = rng.random(n) > accuracy
        prediction = np.where(wrong, (labels + 1 + rng.integers(0, 9, n)) % 10, labels)
        probs = rng.dirichlet(np.ones(10), n) * 0.3
        probs[np.arange(n), prediction] += 0.7
        columns["seed"] += [seed] * n
        columns["sample_id"] += list(range(n))
        columns["label"] += labels.tolist()
        columns["prediction"] += prediction.tolist()
        columns["probabilities"] += probs.astype(np.float32).tolist()
    table = pa.table(
        {
            "run_id": pa.array([run_id] * len(columns["seed"])),
            "seed": pa.array(columns["seed"], pa.int64()),
            "sample_id": pa.array(columns["sample_id"], pa.int64()),
            "label": pa.array(columns["label"], pa.int32()),
            "prediction": pa.array(columns["prediction"], pa.int32()),
            "probabilities": pa.array(columns["probabilities"], pa.list_(pa.float32())),
        }
    )
    return table.append_column("correct", pc.equal(table["label"], table["prediction"]))


def metrics_json(seed: int, epochs: int = 5) -> dict:
    """A metrics.json as training writes it."""
    rows = [
        {
            "epoch": e,
            "train_loss": 2.0 / e + 0.05 * seed,
            "train_accuracy": 0.9 - 0.3 / e,
            "test_accuracy": 0.88 - 0.3 / e,
            "seconds": 2.0,
        }
        for e in range(1, epochs + 1)
    ]
    return {
        "status": "complete",
        "run_id": "r",
        "seed": seed,
        "epochs": rows,
        "recipe": {},
        "test_accuracy": rows[-1]["test_accuracy"],
        "train_seconds": 2.0 * epochs,
        "model_sha256": "0" * 64,
    }


def metrics(seed: int, epochs: int = 5) -> SeedMetrics:
    """The same, as the summary reads it."""
    return SeedMetrics.from_json(metrics_json(seed, epochs), "metrics.json")


def pictures(n: int = 20) -> dict[str, np.ndarray]:
    """uint8 images with a bright square whose place depends on the label."""
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for k, c in enumerate(labels):
        images[k, 2 + 2 * c : 8 + 2 * c, 4:24] = 255
    return {"train_images": images, "train_labels": labels, "test_images": images, "test_labels": labels}
