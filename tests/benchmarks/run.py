"""`make bench`: our training, inference and nightly against the seed article's recipe, side by side.

    python -m tests.benchmarks.run [--seeds N] [--epochs E] [--quick] [--only SECTION] [--output-dir DIR]

Every measurement runs in its own process (thread settings and CPU affinity are per process); a sampler
reads /proc meanwhile for memory and for the CPU other processes used (other engineers' tests make the
numbers noisy: each section records how busy the machine was). Prints a table; writes the same figures
to <output-dir>/bench-<UTC timestamp>.json and the children's logs next to it.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tests.benchmarks import summary_bench, table
from tests.benchmarks.procs import ProcSampler, machine, wait_for_quiet

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("roofline", "train", "infer", "nightly", "summary", "history")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MXNET_CPU_WORKER_NTHREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
INFER_IMAGES = 200_000
HISTORY_SEEDS = 8
ONE_CORE = {min(os.sched_getaffinity(0))}  # where the one-core measurements run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's flags; --quick shrinks whatever was not given explicitly."""
    p = argparse.ArgumentParser(prog="python -m tests.benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=None, help="nightly seeds, ours and baseline (default 8)")
    p.add_argument("--epochs", type=int, default=None, help="nightly epochs per seed (default 10)")
    p.add_argument("--train-epochs", type=int, default=None, help="epochs of the throughput runs (default 2)")
    p.add_argument(
        "--quick", action="store_true", help="smoke settings: 2 seeds x 1 epoch, 1 throughput epoch"
    )
    p.add_argument(
        "--history-runs",
        type=int,
        default=None,
        help="synthetic nights of the history section (default 1000)",
    )
    p.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    p.add_argument("--output-dir", default="bench-results", help="where the JSON and logs go")
    p.add_argument("--render", metavar="JSON", help="print the table of a saved results file and exit")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=None,
        help="before each step, wait up to this many seconds for other processes to use < 0.25 cores "
        "(default 30, --quick 4)",
    )
    args = p.parse_args(argv)
    quick = {"seeds": 2, "epochs": 1, "train_epochs": 1, "quiet_wait": 4, "history_runs": 100}
    full = {"seeds": 8, "epochs": 10, "train_epochs": 2, "quiet_wait": 30, "history_runs": 1000}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.only = args.only or list(SECTIONS)
    return args


class Bench:
    """Runs measurement processes under a /proc sampler, logging their output to one file."""

    def __init__(self, work: Path, log_path: Path, quiet_wait: float) -> None:
        self.work, self.log_path, self.quiet_wait = work, log_path, quiet_wait
        self.log = open(log_path, "a")  # closed by close()

    def close(self) -> None:
        self.log.close()

    def env(self, one_thread: bool) -> dict[str, str]:
        """Our environment without thread caps (the product's defaults), or with one thread."""
        env = {k: v for k, v in os.environ.items() if k not in ONE_THREAD}
        return {**env, **ONE_THREAD} if one_thread else env

    def run(self, cmds: list[list[str]], one_thread: bool, cpus: set[int] | None) -> tuple[list[str], dict]:
        """Run the commands at the same time; their stdouts and what the sampler saw."""
        self.log.write(f"\n=== {cmds} one_thread={one_thread} cpus={cpus}\n")
        self.log.flush()
        affinity = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        load_before = wait_for_quiet(self.quiet_wait)
        with ProcSampler() as sampler:
            procs = [
                subprocess.Popen(
                    cmd,
                    cwd=REPO,
                    env=self.env(one_thread),
                    stdout=subprocess.PIPE,
                    stderr=self.log,
                    text=True,
                    preexec_fn=affinity,
                )
                for cmd in cmds
            ]
            outs = [p.communicate()[0] for p in procs]
        failed = [cmd for cmd, p in zip(cmds, procs, strict=True) if p.returncode != 0]
        if failed:
            raise RuntimeError(f"benchmark step failed: {failed[0]} (see {self.log_path})")
        report = sampler.report(driver_pid=procs[0].pid if len(procs) == 1 else None)
        return outs, {**report, "other_load_cores_before": load_before}

    def measure(self, kind: str, params: list[dict], one_thread: bool, cpus: set[int] | None = None) -> dict:
        """Run measure.py KIND once per params, concurrently; results and the sampler's report."""
        cmds = [[sys.executable, "-m", "tests.benchmarks.measure", kind, json.dumps(p)] for p in params]
        outs, procs = self.run(cmds, one_thread, cpus)
        results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
        return {"results": results, "procs": procs}


def roofline(bench: Bench, args: argparse.Namespace) -> dict:
    """One core's fp32 matmul rate (NumPy and MXNet, one thread, 2048x2048)."""
    return bench.measure("matmul", [{"n": 2048}], one_thread=True, cpus=ONE_CORE)


def train(bench: Bench, args: argparse.Namespace) -> dict:
    """Training throughput: one seed on one core, and one seed per core on the whole machine; the baseline."""
    cores, epochs = len(os.sched_getaffinity(0)), args.train_epochs
    one = {"seed": 0, "epochs": epochs}
    return {
        "ours_1core": bench.measure("train-ours", [one], one_thread=True, cpus=ONE_CORE),
        "baseline_1core": bench.measure("train-baseline", [one], one_thread=True, cpus=ONE_CORE),
        "ours_ray": bench.measure(
            "train-ray",
            [{"seeds": cores, "epochs": epochs, "output": str(bench.work / "train"), "num_cpus": cores}],
            one_thread=False,
        ),
        "ours_processes": bench.measure(
            "train-ours", [{"seed": s, "epochs": epochs} for s in range(cores)], one_thread=True
        ),
        "baseline_machine": bench.measure("train-baseline", [one], one_thread=False),
    }


def make_images(path: Path, n: int) -> None:
    """n test images drawn with replacement, as an (n, 28, 28) uint8 .npy."""
    from lenet_batch import data

    test = data.load().test_images
    np.save(path, test[np.random.default_rng(0).integers(0, len(test), n)])


def infer(bench: Bench, args: argparse.Namespace) -> dict:
    """Batch inference on one core: the test split, and a generated 200k-image .npy."""
    npy = bench.work / "images-200k.npy"
    make_images(npy, INFER_IMAGES)
    test = {"output": str(bench.work / "infer-test")}
    big = {"output": str(bench.work / "infer-npy"), "input": str(npy)}
    return {
        "test_split": bench.measure("infer", [test], one_thread=True, cpus=ONE_CORE),
        "npy_200k": bench.measure("infer", [big], one_thread=True, cpus=ONE_CORE),
    }


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


def nightly(bench: Bench, args: argparse.Namespace) -> dict:
    """`lenet-batch nightly` N seeds x E epochs on a local Ray vs the baseline run seed after seed."""
    output, run_id = bench.work / "nightly", "bench"
    cli = Path(sys.executable).with_name("lenet-batch")
    cmd = [str(cli), "nightly", "--seeds", f"0-{args.seeds - 1}", "--epochs", str(args.epochs)]
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


def _history_step(bench: Bench, kind: str, params: dict) -> dict:
    """One step of tests/benchmarks/history_bench.py: its JSON result and what the sampler saw."""
    cmd = [sys.executable, "-m", "tests.benchmarks.history_bench", kind, json.dumps(params)]
    outs, procs = bench.run([cmd], one_thread=False, cpus=None)
    return {"result": json.loads(outs[0].strip().splitlines()[-1]), "procs": procs}


def history(bench: Bench, args: argparse.Namespace) -> dict:
    """`lenet-batch runs` and `history` over N synthetic nights x 8 seeds locally; record reads on moto S3."""
    output, n = str(bench.work / "history"), args.history_runs
    generated = _history_step(bench, "generate", {"output": output, "runs": n, "seeds": HISTORY_SEEDS})
    cli = str(Path(sys.executable).with_name("lenet-batch"))
    _, runs = bench.run([[cli, "runs", "--output", output, "-q"]], one_thread=False, cpus=None)
    _, built = bench.run([[cli, "history", "--output", output, "-q"]], one_thread=False, cpus=None)
    s3 = _history_step(bench, "s3", {"runs": n, "seeds": HISTORY_SEEDS})
    return {
        "runs": n,
        "seeds": HISTORY_SEEDS,
        "generate": generated,
        "runs_cmd": {"procs": runs},
        "history_cmd": {"procs": built},
        "s3": s3,
    }


def summary(bench: Bench, args: argparse.Namespace) -> dict:
    """The summary stage from 64 to 1,000 seeds on synthetic predictions; the disagreement alone at 1,000."""
    runs = []
    for seeds, images in summary_bench.QUICK if args.quick else summary_bench.FULL:
        params = {"output": str(bench.work / f"summary-{seeds}x{images}"), "seeds": seeds, "images": images}
        bench.measure("summary-data", [params], one_thread=False)  # written by another process, not timed
        runs.append(bench.measure("summary", [params], one_thread=False))
        shutil.rmtree(params["output"], ignore_errors=True)
    return {"runs": runs, "disagreement": bench.measure("disagreement", [summary_bench.DISAGREEMENT], False)}


def main(argv: list[str] | None = None) -> int:
    """Run the sections, print the table, write the JSON; returns the exit code."""
    args = parse_args(argv)
    if args.render:
        doc = json.loads(Path(args.render).read_text())
        print(table.render({**doc, "rows": table.rows(doc)}))
        return 0
    started = dt.datetime.now(dt.UTC)
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}"
    work = Path(tempfile.mkdtemp(prefix="lenet-bench-"))
    bench = Bench(work, out_dir / f"{stem}.log", args.quiet_wait)
    doc: dict[str, Any] = {"started_at": started.isoformat(), "settings": vars(args), "machine": machine()}
    sections = {
        "roofline": roofline,
        "train": train,
        "infer": infer,
        "nightly": nightly,
        "summary": summary,
        "history": history,
    }
    try:
        for name in args.only:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            doc[name] = sections[name](bench, args)
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)
    doc["finished_at"] = dt.datetime.now(dt.UTC).isoformat()
    path = out_dir / f"{stem}.json"
    path.write_text(json.dumps(doc, indent=2, default=str))  # the raw figures first, whatever follows
    doc["rows"] = table.rows(doc)
    path.write_text(json.dumps(doc, indent=2, default=str))
    print(table.render(doc))
    print(f"\nresults: {path}\nlogs:    {bench.log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
