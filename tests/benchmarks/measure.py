"""One measurement per process: `python -m tests.benchmarks.measure KIND '<json params>'` prints JSON.

Each measurement runs in a fresh process so that its thread settings (OMP_NUM_THREADS, read when MXNet
loads) and CPU affinity are its own; `run.py` starts them and samples their memory from /proc.
"""

import json
import os
import resource
import sys
import time
from typing import Any

import numpy as np

from tests.benchmarks import summary_bench

TRAIN_MFLOP = 1.39  # LeNet-5, one training sample, forward + backward
INFER_MFLOP = 0.46  # one inference


def max_rss_mib() -> float:
    """This process's peak resident set (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """This process's resident set now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def matmul(params: dict) -> dict[str, Any]:
    """One thread's fp32 matmul rate (GFLOP/s, best of a few) with NumPy's BLAS and with MXNet's nd.dot."""
    import mxnet as mx

    n, reps = params.get("n", 2048), params.get("reps", 5)
    a, b = (np.random.default_rng(i).random((n, n), dtype=np.float32) for i in range(2))
    a_nd, b_nd = mx.nd.array(a), mx.nd.array(b)
    rates: dict[str, float] = {"numpy": 0.0, "mxnet": 0.0}
    for _ in range(reps):
        started = time.perf_counter()
        np.matmul(a, b)
        rates["numpy"] = max(rates["numpy"], 2 * n**3 / (time.perf_counter() - started) / 1e9)
        started = time.perf_counter()
        mx.nd.dot(a_nd, b_nd).wait_to_read()
        rates["mxnet"] = max(rates["mxnet"], 2 * n**3 / (time.perf_counter() - started) / 1e9)
    best = max(rates.values())
    return {"n": n, "gflops_numpy": rates["numpy"], "gflops_mxnet": rates["mxnet"], "gflops": best}


def _fashion_mnist() -> dict[str, np.ndarray]:
    from lenet_batch import data

    return data.load().arrays()


def train_ours(params: dict) -> dict[str, Any]:
    """lenet_batch.train.train_seed on the full training set (one seed, this process's threads)."""
    import mxnet as mx

    from lenet_batch import train
    from lenet_batch.config import Recipe

    arrays = _fashion_mnist()
    started, cpu = time.perf_counter(), time.process_time()
    _, history = train.train_seed(arrays, Recipe(epochs=params["epochs"]), params["seed"], mx.cpu())
    return {
        "seed": params["seed"],
        "samples": len(arrays["train_images"]) * params["epochs"],
        "loop_seconds": sum(m.seconds for m in history),
        "wall_seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "test_accuracy": history[-1].test_accuracy,
        "epochs": [m.as_dict() for m in history],
        "max_rss_mib": max_rss_mib(),
    }


def train_baseline(params: dict) -> dict[str, Any]:
    """The seed article's recipe (tests/benchmarks/baseline_gluon.py), one seed."""
    from tests.benchmarks import baseline_gluon

    result = baseline_gluon.train(
        _fashion_mnist(), params["epochs"], params["seed"], params.get("num_workers", 4)
    )
    return {**result, "max_rss_mib": max_rss_mib()}


def train_ray(params: dict) -> dict[str, Any]:
    """K seeds as Ray tasks via cluster.train_seeds on a local Ray (timed: worker start-up, not Ray's)."""
    from lenet_batch.cluster.train_seeds import train_seeds

    from lenet_batch import data
    from lenet_batch.cluster.session import ray_session
    from lenet_batch.config import Settings

    dataset = data.load()
    seeds = params["seeds"]
    settings = Settings(seeds=f"0-{seeds - 1}", epochs=params["epochs"], output=params["output"])
    with ray_session(num_cpus=params.get("num_cpus")):
        started = time.perf_counter()
        rows = train_seeds(settings, dataset, "bench-train")
        wall = time.perf_counter() - started
    accuracies = [r["test_accuracy"] for r in rows if r.get("test_accuracy") is not None]
    return {
        "seeds": seeds,
        "samples": len(dataset.train_images) * params["epochs"] * seeds,
        "wall_seconds": wall,
        "train_seconds": [r.get("train_seconds") for r in rows],
        "statuses": [r["status"] for r in rows],
        "test_accuracy": float(np.mean(accuracies)) if accuracies else None,
        "max_rss_mib": max_rss_mib(),
    }


def _bench_model(output: str, run_id: str) -> None:
    """A complete seed 0 in `output` (1 epoch on 4,096 images: inference speed does not need accuracy)."""
    from lenet_batch.seed_run import run_seed

    from lenet_batch.config import Recipe

    arrays = _fashion_mnist()
    small = {k: v[:4096] if k.startswith("train") else v for k, v in arrays.items()}
    run_seed(small, {"source": "bench"}, Recipe(epochs=1), 0, output, run_id, None)


def infer(params: dict) -> dict[str, Any]:
    """lenet_batch.predict.score_seed: load the model, score the input, commit the Parquet partition."""
    from lenet_batch import predict

    output, run_id = params["output"], "bench-infer"
    _bench_model(output, run_id)
    test_split = None if params.get("input") else _fashion_mnist()
    rss_before = rss_mib()
    started, cpu = time.perf_counter(), time.process_time()
    row = predict.score_seed(
        output, run_id, 0, params.get("input"), None, params.get("batch_size", 8192), test_split=test_split
    )
    wall = time.perf_counter() - started
    return {
        "rows": row["rows"],
        "wall_seconds": wall,
        "cpu_seconds": time.process_time() - cpu,
        "images_per_s": row["rows"] / wall,
        "accuracy": row.get("accuracy"),
        "rss_before_mib": rss_before,
        "max_rss_mib": max_rss_mib(),
    }


KINDS = {
    "matmul": matmul,
    "train-ours": train_ours,
    "train-baseline": train_baseline,
    "train-ray": train_ray,
    "infer": infer,
    **summary_bench.KINDS,
}


def main(argv: list[str]) -> int:
    """Run one measurement; its JSON result is the last line on stdout."""
    kind, params = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    result = KINDS[kind](params)
    print(json.dumps({"kind": kind, "params": params, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
