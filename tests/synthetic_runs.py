"""Synthetic runs of any size for report, browser and scale tests: no model, numbers that look like one.

Every seed sees the same images; its logits are a shared signal (the label, plus each image's own pull
towards one wrong class) and noise of its own, so seeds land near 0.85 accuracy with a spread and agree on
most images, as real seeds do.
"""

import numpy as np
import pyarrow as pa

from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import SeedMetrics

N_CLASSES = 10
HOSTS = ("node-a", "node-b")


def shared_signal(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, logits every seed shares): the label strongest, one confusable class per image next."""
    rng = np.random.default_rng(12345)
    labels = rng.integers(0, N_CLASSES, n)
    base = rng.normal(0.0, 1.0, (n, N_CLASSES)).astype(np.float32)
    base[np.arange(n), labels] += 4.0
    base[np.arange(n), (labels + 1 + rng.integers(0, 9, n)) % N_CLASSES] += 2.4
    return labels, base


def seed_logits(seed: int, labels: np.ndarray, base: np.ndarray) -> np.ndarray:
    """One seed's logits: the shared ones, a skill of its own, and its own noise."""
    rng = np.random.default_rng([seed, 7])
    logits = base + rng.normal(0.0, 0.3, base.shape).astype(np.float32)
    logits[np.arange(len(labels)), labels] += rng.normal(0.0, 0.08)
    return logits


def seed_probabilities(seed: int, labels: np.ndarray, base: np.ndarray) -> np.ndarray:
    """One seed's probabilities (the softmax of its logits)."""
    logits = seed_logits(seed, labels, base)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def predictions_table(run_id: str, seeds: range | list[int], n: int) -> pa.Table:
    """The columns the summary reads, for every seed over the same n images."""
    labels, base = shared_signal(n)
    probs = np.concatenate([seed_probabilities(s, labels, base) for s in seeds])
    rows = len(probs)
    offsets = pa.array(np.arange(0, N_CLASSES * rows + 1, N_CLASSES, dtype=np.int32))
    return pa.table(
        {
            "run_id": pa.array([run_id] * rows),
            "seed": pa.array(np.repeat(np.asarray(list(seeds), dtype=np.int64), n)),
            "sample_id": pa.array(np.tile(np.arange(n, dtype=np.int64), len(seeds))),
            "label": pa.array(np.tile(labels, len(seeds)).astype(np.int32)),
            "prediction": pa.array(probs.argmax(axis=1).astype(np.int32)),
            "probabilities": pa.ListArray.from_arrays(offsets, pa.array(probs.reshape(-1))),
        }
    )


def attempts(seed: int) -> list[dict]:
    """Every 7th seed needed a second attempt, on the other host."""
    first = {"attempt": 1, "host": HOSTS[seed % 2], "pid": 100 + seed, "started_at": "2026-11-28T02:00:00Z"}
    if seed % 7 != 3:
        return [first]
    second = {**first, "attempt": 2, "host": HOSTS[(seed + 1) % 2], "started_at": "2026-11-28T02:05:00Z"}
    return [first, second]


def metrics_json(run_id: str, seed: int, epochs: int) -> dict:
    """A metrics.json as training writes it: curves that fall and rise with a little per-seed noise."""
    rng = np.random.default_rng([seed, 11])
    rows = []
    for e in range(1, epochs + 1):
        loss = 0.35 + 1.8 / (e + 0.5) + rng.normal(0.0, 0.02)
        rows.append(
            {
                "epoch": e,
                "train_loss": float(loss),
                "train_accuracy": float(0.93 - 0.5 / (e + 1) + rng.normal(0.0, 0.004)),
                "test_accuracy": float(0.88 - 0.45 / (e + 1) + rng.normal(0.0, 0.005)),
                "seconds": float(3.0 + rng.random()),
            }
        )
    return {
        "status": "complete",
        "run_id": run_id,
        "seed": seed,
        "recipe": {"epochs": epochs, "batch_size": 256, "lr": 0.1, "mean": 0.13, "std": 0.31},
        "epochs": rows,
        "test_accuracy": rows[-1]["test_accuracy"],
        "train_seconds": float(sum(r["seconds"] for r in rows)),
        "model_sha256": f"{seed:064x}",
        "attempts": attempts(seed),
        "versions": {"lenet_batch": "0.1.0", "mxnet": "1.9.1", "python": "3.11.2"},
    }


def metrics(run_id: str, seeds: range | list[int], epochs: int) -> dict[int, SeedMetrics]:
    """Each seed's metrics as the summary reads them."""
    return {s: SeedMetrics.from_json(metrics_json(run_id, s, epochs), "metrics.json") for s in seeds}


def write_records(run: RunRef, seeds: range | list[int], epochs: int) -> None:
    """run.json (config, versions, data digests, timed train and infer stages) and every metrics.json."""
    stage = {
        "status": "complete",
        "started_at": "2026-11-28T02:00:00Z",
        "finished_at": "2026-11-28T02:09:00Z",
    }
    record = {
        "run_id": run.run_id,
        "config": {"seeds": f"{min(seeds)}-{max(seeds)}", "epochs": epochs},
        "versions": {"lenet_batch": "0.1.0", "mxnet": "1.9.1", "python": "3.11.2", "ray": "2.60.0"},
        "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
        "data": {"source": "synthetic", "sha256": {"t10k-images-idx3-ubyte": "ab" * 32}},
        "created_at": "2026-11-28T02:00:00Z",
        "stages": {
            "train": {**stage, "seconds": 540.0, "seeds": [{"seed": s, "status": "trained"} for s in seeds]},
            "infer": {**stage, "seconds": 61.5, "input": "test split"},
        },
    }
    storage.write_json_atomic(run.run_json, record, run.options)
    for seed in seeds:
        storage.write_json_atomic(run.metrics_json(seed), metrics_json(run.run_id, seed, epochs), run.options)
