"""The benchmark's sections: each runs its measurement processes through a Bench and returns raw figures."""

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

ONE_CORE = {min(os.sched_getaffinity(0))}  # where the one-core measurements run
INFER_IMAGES = 200_000
LATENCY_SEEDS = 4


def cores() -> int:
    return len(os.sched_getaffinity(0))


def cli(*args: str) -> list[str]:
    """The `lenet-batch` command line of this interpreter's environment."""
    return [str(Path(sys.executable).with_name("lenet-batch")), *args]


def roofline(bench, args: argparse.Namespace) -> dict:
    """One core's fp32 matmul rate (NumPy and MXNet, one thread, 2048x2048)."""
    return bench.measure("matmul", [{"n": 2048}], one_thread=True, cpus=ONE_CORE)


def train(bench, args: argparse.Namespace) -> dict:
    """Training throughput: one seed on one core, and one seed per core on the whole machine; the baseline."""
    epochs = args.train_epochs
    one = {"seed": 0, "epochs": epochs}
    ray = {"seeds": cores(), "epochs": epochs, "output": str(bench.work / "train"), "num_cpus": cores()}
    return {
        "ours_1core": bench.measure("train-ours", [one], one_thread=True, cpus=ONE_CORE),
        "baseline_1core": bench.measure("train-baseline", [one], one_thread=True, cpus=ONE_CORE),
        "ours_ray": bench.measure("train-ray", [ray], one_thread=False),
        "ours_processes": bench.measure(
            "train-ours", [{"seed": s, "epochs": epochs} for s in range(cores())], one_thread=True
        ),
        "baseline_machine": bench.measure("train-baseline", [one], one_thread=False),
    }


def _ray_vs_plain(bench, seeds: int, epochs: int) -> dict:
    """`lenet-batch train` on a local Ray against plain processes (one per core, seeds dealt round-robin)."""
    output = bench.work / f"ray-{seeds}x{epochs}"
    cmd = cli("train", "--seeds", f"0-{seeds - 1}", "--epochs", str(epochs), "--output", str(output))
    _, ray_procs = bench.run([[*cmd, "--run-id", "ray"]], one_thread=False, cpus=None)
    shares = [{"seeds": list(range(c, seeds, cores())), "epochs": epochs} for c in range(min(cores(), seeds))]
    plain = bench.measure("train-plain", shares, one_thread=True)
    return {"seeds": seeds, "epochs": epochs, "ray_cli": ray_procs, "plain": plain}


def ray_cost(bench, args: argparse.Namespace) -> dict:
    """What Ray costs: the Ray path against plain processes, end to end, at cores x 1 and seeds x epochs;
    and, at cores x 1, once Ray is up (the stage's own time against the processes' time after start-up).
    """
    small = {"seeds": cores(), "epochs": 1, "output": str(bench.work / "ray-session"), "num_cpus": cores()}
    found = {
        "small": _ray_vs_plain(bench, cores(), 1),
        "in_session": bench.measure("train-ray", [small], one_thread=False),
    }
    if (args.seeds, args.epochs) != (cores(), 1):
        found["large"] = _ray_vs_plain(bench, args.seeds, args.epochs)
    return {**found, **_phases(bench, args), "fit": _fit(bench, args.train_epochs)}


def _phases(bench, args: argparse.Namespace) -> dict:
    """One train stage on a fresh local Ray, step by step, and the same seeds in plain processes."""
    epochs = max(2, args.train_epochs)  # the first epoch's extra needs a second to compare with
    ray = {"seeds": cores(), "epochs": epochs, "output": str(bench.work / "phases-ray")}
    plain = [{"seed": s, "epochs": epochs, "output": str(bench.work / f"phases-{s}")} for s in range(cores())]
    return {
        "phases": bench.measure("ray-phases", [ray], one_thread=False),
        "plain_phases": bench.measure("plain-phases", plain, one_thread=True),
    }


def _fit(bench, epochs: int) -> dict:
    """Twice as many seeds as CPUs against as many seeds as CPUs, once Ray is up: seeds queue, none
    trains beside the others on a borrowed CPU (the goal: 2x the seeds in at most 2.1x the time)."""
    runs = {}
    for name, seeds in (("half", cores()), ("full", 2 * cores())):
        params = {
            "seeds": seeds,
            "epochs": epochs,
            "output": str(bench.work / f"fit-{name}"),
            "num_cpus": cores(),
        }
        runs[name] = bench.measure("train-ray", [params], one_thread=False)
    return runs


def infer(bench, args: argparse.Namespace) -> dict:
    """Scoring on one core: the forward pass (batch sizes, fusion), the test split and a 200k-image .npy."""
    npy = str(bench.work / "images.npy")
    n = INFER_IMAGES // 4 if args.quick else INFER_IMAGES
    bench.measure("images", [{"path": npy, "n": n}], one_thread=True)
    bench.measure("bench-models", [{"output": str(bench.work / "infer")}], one_thread=True)
    test = {"output": str(bench.work / "infer"), "rounds": 5}
    big = {"output": str(bench.work / "infer"), "input": npy, "rounds": 2 if args.quick else 3}
    forward = {"rounds": 3 if args.quick else 10}
    return {
        "forward": bench.measure("forward", [forward], one_thread=True, cpus=ONE_CORE),
        "test_split": bench.measure("infer", [test], one_thread=True, cpus=ONE_CORE),
        "npy": bench.measure("infer", [big], one_thread=True, cpus=ONE_CORE),
    }


def paths(bench, args: argparse.Namespace) -> dict:
    """Scoring K seeds in the driver against a local Ray started for it, at a few sizes of work."""
    output = str(bench.work / "paths")
    sizes = [(cores(), None), (8, "npy")] if not args.quick else [(2, None), (2, "npy")]
    bench.measure("bench-models", [{"output": output, "seeds": max(s for s, _ in sizes)}], one_thread=True)
    npy = str(bench.work / "paths.npy")
    n = INFER_IMAGES // 4 if args.quick else INFER_IMAGES
    bench.measure("images", [{"path": npy, "n": n}], one_thread=True)
    found = []
    for seeds, kind in sizes:
        job = {"output": output, "seeds": seeds, "input": npy if kind else None}
        here = bench.measure("score-path", [{**job, "path": "here"}], one_thread=False)
        ray = bench.measure("score-path", [{**job, "path": "ray"}], one_thread=False)
        found.append({"seeds": seeds, "images": n if kind else 10_000, "here": here, "ray": ray})
    return {"sizes": found}


def _command(bench, name: str, argv: list[str], params: dict) -> dict:
    """One command's wall time from outside, and its work timed inside a process of its own."""
    outs, procs = bench.run([cli(*argv)], one_thread=False, cpus=None)
    work = bench.measure("work", [{**params, "command": name}], one_thread=False)
    return {"command": " ".join(["lenet-batch", *argv[:1]]), "procs": procs, "work": work}


def latency(bench, args: argparse.Namespace) -> dict:
    """What each typed command costs against its work: data, train (finished), infer, summary, query."""
    from tests.benchmarks.measure_latency import PREDICT_FIRST, QUERY

    output, run_id = str(bench.work / "latency"), "bench-infer"
    bench.measure("bench-models", [{"output": output, "seeds": LATENCY_SEEDS}], one_thread=True)
    at = ["--output", output, "--run-id", run_id]
    params = {"output": output, "run_id": run_id, "seeds": f"0-{LATENCY_SEEDS - 1}"}
    commands = [
        ("data", ["data", "--json"]),
        ("train", ["train", *at, "--seeds", params["seeds"], "--epochs", "1"]),
        ("infer", ["infer", *at]),
        ("summary", ["summary", *at]),
        ("query", ["query", QUERY, *at]),
        ("predict", ["predict", *at, "--seed", "0", "--first", str(PREDICT_FIRST)]),
    ]
    return {name: _command(bench, name, argv, params) for name, argv in commands}


def _run_facts(output: Path, run_id: str) -> dict[str, Any]:
    """Per-seed accuracy and stage durations (run.json timestamps, 1 s resolution) of a finished run."""
    run_dir = output / "runs" / run_id
    record = json.loads((run_dir / "run.json").read_text())
    metrics = [json.loads(p.read_text()) for p in sorted(run_dir.glob("seeds/seed=*/metrics.json"))]
    marks = [("start", record["created_at"])]
    marks += [
        (s, record["stages"][s]["finished_at"])
        for s in ("train", "infer", "summary")
        if s in record["stages"]
    ]
    times = [dt.datetime.fromisoformat(t) for _, t in marks]
    stages = {marks[i][0]: (times[i] - times[i - 1]).total_seconds() for i in range(1, len(marks))}
    return {
        "test_accuracy": [m["test_accuracy"] for m in metrics],
        "train_seconds": [m["train_seconds"] for m in metrics],
        "stage_seconds": stages,
    }


def nightly(bench, args: argparse.Namespace) -> dict:
    """`lenet-batch nightly` N seeds x E epochs on a local Ray vs the baseline run seed after seed."""
    output, run_id = bench.work / "nightly", "bench"
    cmd = cli("nightly", "--seeds", f"0-{args.seeds - 1}", "--epochs", str(args.epochs))
    _, procs = bench.run([[*cmd, "--output", str(output), "--run-id", run_id]], one_thread=False, cpus=None)
    baseline = [
        bench.measure("train-baseline", [{"seed": seed, "epochs": args.epochs}], one_thread=False)
        for seed in range(args.seeds)
    ]
    return {
        "ours": {"procs": procs, **_run_facts(output, run_id)},
        "baseline": {
            "wall_seconds": sum(b["procs"]["wall_seconds"] for b in baseline),
            "test_accuracy": [b["results"][0]["test_accuracy"] for b in baseline],
            "other_load_cores": max(b["procs"]["other_load_cores"] for b in baseline),
            "peak_total_pss_mib": max(b["procs"]["peak_total_pss_mib"] for b in baseline),
            "runs": baseline,
        },
    }


SECTIONS = {
    "roofline": roofline,
    "train": train,
    "ray": ray_cost,
    "infer": infer,
    "paths": paths,
    "latency": latency,
    "nightly": nightly,
}
