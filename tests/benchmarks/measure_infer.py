"""Inference measurements: the forward pass by batch size and fusion, the whole scoring path against it
(side by side in one process), and scoring in the driver against a local Ray (the placement crossover).

Figures that are compared are taken in alternation in one process, many short rounds, and the median of
the per-round ratios is reported: on a shared machine the rate drifts by tens of percent within a minute,
a ratio taken within seconds much less.
"""

import statistics
import time
from typing import Any

import numpy as np

from tests.benchmarks.measure import fashion_mnist_arrays, max_rss_mib, rss_mib, timed

BENCH_RUN = "bench-infer"


def bench_models(params: dict) -> dict[str, Any]:
    """Finished seeds 0..K-1 of BENCH_RUN in `output` (1 epoch on 4,096 images: speed needs no accuracy)."""
    from lenet_batch.config import Recipe
    from lenet_batch.records import DataInfo
    from lenet_batch.store.layout import RunRef
    from lenet_batch.training.seed import run_seed

    arrays = fashion_mnist_arrays()
    small = {k: v[:4096] if k.startswith("train") else v for k, v in arrays.items()}
    run = RunRef(params["output"], BENCH_RUN)
    for seed in range(params.get("seeds", 1)):
        run_seed(small, data_info=DataInfo("bench"), recipe=Recipe(epochs=1), seed=seed, run=run)
    return {"seeds": params.get("seeds", 1)}


def _net(fused: bool = False, batch: int = 256):
    """Seed 0's model of BENCH_RUN, hybridized as the predictor runs it (or partitioned for MKLDNN)."""
    import mxnet as mx

    from lenet_batch.training import model

    net = model.create_lenet(mx.cpu(), hybridize=not fused)
    if fused:  # 'MKLDNN' is the backend's name in MXNet 1.9.1 ('ONEDNN' is not registered there)
        net.optimize_for(mx.nd.zeros((batch, *model.INPUT_SHAPE)), backend="MKLDNN", static_alloc=True)
    return net


def _forward_seconds(net, x, images: int) -> float:
    """CPU seconds per image of repeated forward passes of x (one warm-up pass first)."""
    net(x).wait_to_read()
    reps = max(1, images // x.shape[0])
    started = time.process_time()
    for _ in range(reps):
        out = net(x)
    out.wait_to_read()
    return (time.process_time() - started) / (reps * x.shape[0])


def forward(params: dict) -> dict[str, Any]:
    """Bare forward passes (normalised float input) by batch size, and MKLDNN-fused, against batch 256."""
    import mxnet as mx

    from lenet_batch.data.fashion_mnist import normalize

    test = fashion_mnist_arrays()["test_images"]
    variants = [(256, False), *((b, False) for b in params.get("batches", [1024, 2048])), (1024, True)]
    nets = {v: _net(fused=v[1], batch=v[0]) for v in variants}
    xs = {b: mx.nd.array(normalize(test[:b], 0.13, 0.31)) for b, _ in variants}
    seconds: dict = {v: [] for v in variants}
    for _ in range(params.get("rounds", 8)):
        for v in variants:  # in alternation: a drift of the machine hits every variant alike
            seconds[v].append(_forward_seconds(nets[v], xs[v[0]], params.get("images", 10240)))
    base = seconds[(256, False)]
    return {
        "variants": [
            {
                "batch": b,
                "fused": f,
                "images_per_cpu_s": 1 / statistics.median(seconds[(b, f)]),
                "vs_256": statistics.median(x / y for x, y in zip(base, seconds[(b, f)], strict=True)),
            }
            for b, f in variants
        ]
    }


def infer(params: dict) -> dict[str, Any]:
    """scoring.seed.score_seed (model to committed Parquet), alternated with the bare forward pass."""
    import mxnet as mx

    from lenet_batch.data.fashion_mnist import normalize
    from lenet_batch.data.inputs import ImageSource
    from lenet_batch.store.layout import RunRef
    from lenet_batch.training.inference import INFER_BATCH
    from tests.helpers import score_seed

    arrays = fashion_mnist_arrays()
    test_split = None if params.get("input") else arrays
    source = ImageSource(uri=params.get("input"), batch_size=params.get("batch_size", 8192))
    run = RunRef(params["output"], BENCH_RUN)
    net = _net()
    xs = {b: mx.nd.array(normalize(arrays["test_images"][:b], 0.13, 0.31)) for b in (256, INFER_BATCH)}
    rss_before, rounds = rss_mib(), []
    for _ in range(params.get("rounds", 3)):
        forward_256 = _forward_seconds(net, xs[256], 10240)
        row, wall, cpu = timed(score_seed, run, 0, source, test_split=test_split)
        forward_batch = _forward_seconds(net, xs[INFER_BATCH], 10240)
        rounds.append(
            (row.rows / wall, row.rows / cpu, forward_256 * row.rows / cpu, forward_batch * row.rows / cpu)
        )
    median = [statistics.median(r[i] for r in rounds) for i in range(4)]
    return {
        "rows": row.rows,
        "images_per_s": median[0],
        "images_per_cpu_s": median[1],
        "of_forward_256": median[2],
        "of_forward_batch": median[3],
        "forward_batch": INFER_BATCH,
        "accuracy": row.accuracy,
        "rss_before_mib": rss_before,
        "max_rss_mib": max_rss_mib(),
    }


def score_path(params: dict) -> dict[str, Any]:
    """Score K seeds of BENCH_RUN in this process (`here`) or on a local Ray started for it (`ray`).

    run.py times the whole process, as a user waits for `lenet-batch infer`; the in-process figure is
    from the start of the work, after the imports, as is the Ray one.
    """
    from lenet_batch.config import ClusterOptions
    from lenet_batch.data.fashion_mnist import load
    from lenet_batch.data.inputs import ImageSource
    from lenet_batch.store.layout import RunRef

    run = RunRef(params["output"], BENCH_RUN)
    seeds = list(range(params["seeds"]))
    source = ImageSource(uri=params.get("input"))
    started = time.perf_counter()
    dataset = None if params.get("input") else load()
    if params["path"] == "here":
        from lenet_batch.pipeline.local_scoring import pin_threads, score_here

        assert pin_threads(1), "MXNet was imported before the thread caps were set"
        rows = score_here(run, seeds, source, dataset)
    else:
        from lenet_batch.cluster.resources import thread_env
        from lenet_batch.cluster.score_tasks import score_seeds
        from lenet_batch.cluster.session import ray_session

        with ray_session(worker_env=thread_env(1)):
            rows = score_seeds(run, seeds, source=source, cluster=ClusterOptions(), dataset=dataset)
    assert all(r.status == "scored" for r in rows), rows
    return {"rows": sum(r.rows for r in rows), "in_process_seconds": time.perf_counter() - started}


def make_images(path: str, n: int) -> None:
    """n test images drawn with replacement, as an (n, 28, 28) uint8 .npy."""
    test = fashion_mnist_arrays()["test_images"]
    np.save(path, test[np.random.default_rng(0).integers(0, len(test), n)])


def images(params: dict) -> dict[str, Any]:
    """Write the generated .npy input."""
    make_images(params["path"], params["n"])
    return {"n": params["n"]}


KINDS = {
    "bench-models": bench_models,
    "forward": forward,
    "infer": infer,
    "score-path": score_path,
    "images": images,
}
