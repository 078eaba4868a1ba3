"""The summary stage at scale: 64-256 seeds x 10,000 test images and 250-1,000 seeds x 1,000 images.

A run of synthetic predictions is written as committed Parquet partitions (the infer stage's schema and
writer) by one process; another process, measured, runs `summarize_run` on it as `lenet-batch summary`
does: read, statistics, figures, report. The pairwise disagreement, the one quadratic part, is also timed
alone at 1,000 seeds x 10,000 images.
"""

import datetime as dt
import resource
import time
from typing import Any

import numpy as np

FULL = [(64, 10_000), (128, 10_000), (256, 10_000), (250, 1_000), (500, 1_000), (1_000, 1_000)]
QUICK = [(16, 1_000), (64, 1_000)]
DISAGREEMENT = {"seeds": 1_000, "images": 10_000}


def write_run(params: dict) -> dict[str, Any]:
    """A run of `seeds` x `images` synthetic predictions under `output` (run.json, metrics, partitions)."""
    from lenet_batch.data.batch import ImageBatch
    from lenet_batch.scoring.partitions import write_partition
    from lenet_batch.scoring.predictor import to_record_batch
    from lenet_batch.store.layout import Layout
    from tests import synthetic_runs as syn

    run = Layout(params["output"]).run("bench")
    seeds, n = range(params["seeds"]), params["images"]
    syn.write_records(run, seeds, epochs=10)
    labels, base = syn.shared_signal(n)
    batch = ImageBatch(np.arange(n, dtype=np.int64), np.zeros((n, 28, 28), np.uint8), labels.astype(np.uint8))
    scored_at = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
    for seed in seeds:
        rows = to_record_batch(batch, syn.seed_logits(seed, labels, base), f"{seed:064x}", scored_at)
        write_partition(run, seed, [rows], f"{seed:064x}")
    return {"rows": params["seeds"] * n}


def summarize(params: dict) -> dict[str, Any]:
    """`summarize_run` on the run write_run made: seconds, CPU seconds, peak RSS, and what it wrote."""
    from lenet_batch.store.layout import Layout
    from lenet_batch.summary.stage import summarize_run

    run = Layout(params["output"]).run("bench")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, cpu = time.perf_counter(), time.process_time()
    doc = summarize_run(run)
    return {
        "seeds": doc["n_seeds"],
        "images": doc["ensemble"]["n_samples"],
        "wall_seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_imports_mib": rss_before,
        "summary_json_kib": len(open(run.summary_json, "rb").read()) / 1024,
        "report_html_kib": len(open(doc["report_html"], "rb").read()) / 1024,
    }


def disagreement(params: dict) -> dict[str, Any]:
    """The pairwise disagreement alone on random predictions of `seeds` x `images`."""
    from lenet_batch.summary.disagreement import pairwise

    votes = np.random.default_rng(0).integers(0, 10, (params["seeds"], params["images"]))
    started, cpu = time.perf_counter(), time.process_time()
    matrix = pairwise(votes, 10)
    return {
        **params,
        "pairs": len(matrix) * (len(matrix) - 1) // 2,
        "wall_seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


KINDS = {"summary-data": write_run, "summary": summarize, "disagreement": disagreement}
