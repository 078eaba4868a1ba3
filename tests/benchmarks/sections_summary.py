"""The benchmark's summary and history sections (the others are in sections.py)."""

import argparse
import json
import shutil
import sys

from tests.benchmarks import summary_bench
from tests.benchmarks.sections import cli

HISTORY_SEEDS = 8


def _history_step(bench, kind: str, params: dict) -> dict:
    """One step of tests/benchmarks/history_bench.py: its JSON result and what the sampler saw."""
    cmd = [sys.executable, "-m", "tests.benchmarks.history_bench", kind, json.dumps(params)]
    outs, procs = bench.run([cmd], one_thread=False, cpus=None)
    return {"result": json.loads(outs[0].strip().splitlines()[-1]), "procs": procs}


def history(bench, args: argparse.Namespace) -> dict:
    """`lenet-batch runs` and `history` over N synthetic nights x 8 seeds locally; record reads on moto S3."""
    output, n = str(bench.work / "history"), args.history_runs
    generated = _history_step(bench, "generate", {"output": output, "runs": n, "seeds": HISTORY_SEEDS})
    _, runs = bench.run([cli("runs", "--output", output, "-q")], one_thread=False, cpus=None)
    _, built = bench.run([cli("history", "--output", output, "-q")], one_thread=False, cpus=None)
    s3 = _history_step(bench, "s3", {"runs": n, "seeds": HISTORY_SEEDS})
    return {
        "runs": n,
        "seeds": HISTORY_SEEDS,
        "generate": generated,
        "runs_cmd": {"procs": runs},
        "history_cmd": {"procs": built},
        "s3": s3,
    }


def summary(bench, args: argparse.Namespace) -> dict:
    """The summary stage from 64 to 1,000 seeds on synthetic predictions; the disagreement alone at 1,000."""
    runs = []
    for seeds, images in summary_bench.QUICK if args.quick else summary_bench.FULL:
        params = {"output": str(bench.work / f"summary-{seeds}x{images}"), "seeds": seeds, "images": images}
        bench.measure("summary-data", [params], one_thread=False)  # written by another process, not timed
        runs.append(bench.measure("summary", [params], one_thread=False))
        shutil.rmtree(params["output"], ignore_errors=True)
    return {"runs": runs, "disagreement": bench.measure("disagreement", [summary_bench.DISAGREEMENT], False)}
