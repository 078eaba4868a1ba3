"""One measurement per process: `python -m tests.benchmarks.measure KIND '<json params>'` prints JSON.

Each measurement runs in a fresh process so that its thread settings (OMP_NUM_THREADS, read when MXNet
loads) and CPU affinity are its own; `run.py` starts them and samples their memory from /proc. Training
and Ray kinds are here; inference kinds in measure_infer.py, command latencies in measure_latency.py.
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


def timed(func, *args, **kwargs) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process) of one call."""
    started, cpu = time.perf_counter(), time.process_time()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - started, time.process_time() - cpu


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


def fashion_mnist_arrays() -> dict[str, np.ndarray]:
    """The dataset's four arrays (system package, else the cache)."""
    from lenet_batch.data import fashion_mnist

    return fashion_mnist.load().arrays()


def train_ours(params: dict) -> dict[str, Any]:
    """training.loop.train_seed on the full training set (one seed, this process's threads)."""
    import mxnet as mx

    from lenet_batch.config import Recipe
    from lenet_batch.training.loop import train_seed

    arrays = fashion_mnist_arrays()
    (_, history), wall, cpu = timed(
        train_seed, arrays, Recipe(epochs=params["epochs"]), params["seed"], mx.cpu()
    )
    return {
        "seed": params["seed"],
        "samples": len(arrays["train_images"]) * params["epochs"],
        "loop_seconds": sum(m.seconds for m in history),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "test_accuracy": history[-1].test_accuracy,
        "epochs": [m.to_json() for m in history],
        "max_rss_mib": max_rss_mib(),
    }


def train_plain(params: dict) -> dict[str, Any]:
    """A plain process's share of a run: load the data, then train its seeds one after another.

    What the Ray path is compared with: no cluster, OMP_NUM_THREADS=1, the process started by run.py (so
    its wall time includes the interpreter, MXNet's import and the data load, as a Ray worker's does).
    """
    import mxnet as mx

    from lenet_batch.config import Recipe
    from lenet_batch.training.loop import train_seed

    started = time.perf_counter()
    arrays = fashion_mnist_arrays()
    accuracies = [
        train_seed(arrays, Recipe(epochs=params["epochs"]), seed, mx.cpu())[1][-1].test_accuracy
        for seed in params["seeds"]
    ]
    return {
        "seeds": params["seeds"],
        "in_process_seconds": time.perf_counter() - started,
        "accuracy": accuracies,
    }


def train_baseline(params: dict) -> dict[str, Any]:
    """The seed article's recipe (tests/benchmarks/baseline_gluon.py), one seed."""
    from tests.benchmarks import baseline_gluon

    result = baseline_gluon.train(
        fashion_mnist_arrays(), params["epochs"], params["seed"], params.get("num_workers", 4)
    )
    return {**result, "max_rss_mib": max_rss_mib()}


def train_ray(params: dict) -> dict[str, Any]:
    """K seeds through pipeline.stages.train on a local Ray that is already up (the session is not timed).

    The timed part is what the stage does once Ray is up: warm the workers while the data loads, plan,
    put the arrays once, run the tasks.
    """
    from lenet_batch.cluster.resources import thread_env
    from lenet_batch.cluster.session import ray_session
    from lenet_batch.config import Settings
    from lenet_batch.pipeline import stages

    seeds = params["seeds"]
    settings = Settings(seeds=f"0-{seeds - 1}", epochs=params["epochs"], output=params["output"])
    run = settings.run_ref()
    with ray_session(num_cpus=params.get("num_cpus"), worker_env=thread_env(1)):
        rows, wall, _ = timed(stages.train, run, stages.TrainRequest.of(settings))
    accuracies = [r.test_accuracy for r in rows if r.test_accuracy is not None]
    return {
        "seeds": seeds,
        "samples": 60_000 * params["epochs"] * seeds,
        "wall_seconds": wall,
        "train_seconds": [r.train_seconds for r in rows],
        "statuses": [r.status for r in rows],
        "test_accuracy": float(np.mean(accuracies)) if accuracies else None,
        "max_rss_mib": max_rss_mib(),
    }


KINDS = {
    "matmul": matmul,
    "train-ours": train_ours,
    "train-plain": train_plain,
    "train-baseline": train_baseline,
    "train-ray": train_ray,
    **summary_bench.KINDS,
}


def main(argv: list[str]) -> int:
    """Run one measurement; its JSON result is the last line on stdout."""
    from tests.benchmarks import measure_infer, measure_latency, measure_phases

    kinds = {**KINDS, **measure_infer.KINDS, **measure_latency.KINDS, **measure_phases.KINDS}
    kind, params = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    result = kinds[kind](params)
    print(json.dumps({"kind": kind, "params": params, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
