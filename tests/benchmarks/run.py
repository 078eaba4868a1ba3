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

from tests.benchmarks import table
from tests.benchmarks.procs import ProcSampler, machine, wait_for_quiet
from tests.benchmarks.sections import SECTIONS as PERF_SECTIONS
from tests.benchmarks.sections_summary import history, summary
from tests.benchmarks.signal_loop import section as signals

REPO = Path(__file__).resolve().parents[2]
SECTIONS = {**PERF_SECTIONS, "summary": summary, "history": history, "signals": signals}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MXNET_CPU_WORKER_NTHREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


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
    p.add_argument(
        "--only", action="append", choices=list(SECTIONS), help="run only this section (repeatable)"
    )
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
    path = out_dir / f"{stem}.json"
    try:
        for name in args.only:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            doc[name] = SECTIONS[name](bench, args)
            path.write_text(json.dumps(doc, indent=2, default=str))  # a later section's failure keeps these
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)
    doc["finished_at"] = dt.datetime.now(dt.UTC).isoformat()
    path.write_text(json.dumps(doc, indent=2, default=str))  # the raw figures first, whatever follows
    doc["rows"] = table.rows(doc)
    path.write_text(json.dumps(doc, indent=2, default=str))
    print(table.render(doc))
    print(f"\nresults: {path}\nlogs:    {bench.log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
