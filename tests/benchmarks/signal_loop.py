"""Signals at every stage boundary of a nightly, many times: each must be a clean stop.

    python -m tests.benchmarks.signal_loop [--offsets 0,0.2,0.5,1,2] [--output-dir DIR]

For each boundary (a line the nightly logs as it crosses it) and each offset, a fresh nightly on a small
dataset gets SIGTERM (every fourth SIGINT) that many seconds after the line. Each must exit 143 (130),
print no traceback, release the lock, leave no process of its local Ray after 10 s, and the next nightly
of the same run must complete. Also `make bench BENCH_ARGS="--only signals"`.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from tests.test_signals import TAG, of_its_ray, session_dirs, tagged

# (boundary, the line that marks it): the nightly of 2 seeds x 1 epoch crosses them in this order.
BOUNDARIES = [
    ("data loaded, Ray starting", r"INFO Fashion-MNIST from"),
    ("inside ray.init", r"Started a local Ray instance"),
    ("Ray up, workers warming", r"started a local Ray on"),
    ("tasks launched", r"training seeds \[0, 1\]"),
    ("first epoch line", r"epoch 1/1 loss"),
    ("first seed done", r"\[1/2 seeds done\]"),
    ("train done, Ray stopping", r"trained.*\[2/2 seeds done\]"),
    ("scoring", r"scoring 2 seeds"),
    ("summary", r"run n\d+: summarising"),
    ("history", r"INFO gate: "),
]
OFFSETS = (0.0, 0.2, 0.5, 1.0, 2.0)
EXPECTED = {signal.SIGTERM: 143, signal.SIGINT: 130}


def lenet_batch() -> str:
    return str(Path(sys.executable).with_name("lenet-batch"))


def gone_within(tag: str, folders: set[str], seconds: float) -> bool:
    """No process of the night's Ray is left within `seconds` (found as the tests find them)."""
    deadline = time.monotonic() + seconds
    while of_its_ray(tag, folders) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not of_its_ray(tag, folders)


class Night:
    """A `lenet-batch nightly` whose stderr lines are collected as they come."""

    def __init__(self, args: list[str], tag: str) -> None:
        self.proc = subprocess.Popen(
            [lenet_batch(), "nightly", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tempfile.gettempdir(),
            env={**os.environ, TAG: tag},
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a foreground job
        )
        self.lines: list[str] = []
        self.folders: set[str] = set()  # its Ray's session folders, seen while the night runs
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        threading.Thread(target=self._watch, args=(tag,), daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def _watch(self, tag: str) -> None:
        while self.proc.poll() is None:
            self.folders |= session_dirs(tagged(tag))
            time.sleep(0.5)

    def wait_for(self, pattern: str, timeout: float = 600) -> bool:
        """True once a line matches; False if the night ended (or the time ran out) first."""
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def finish(self, timeout: float = 600) -> tuple[int, str]:
        self.proc.wait(timeout)
        self.reader.join(10)
        return self.proc.returncode, "".join(self.lines)


def trial(args: list[str], out: Path, pattern: str, offset: float, sig: int) -> dict[str, Any]:
    """One nightly signalled `offset` s after `pattern`, then the night resumed to its end."""
    tag = uuid.uuid4().hex
    night = Night(args, tag)
    reached = night.wait_for(pattern)
    time.sleep(offset)
    alive = reached and night.proc.poll() is None
    if alive:
        night.proc.send_signal(sig)
    code, err = night.finish()
    found = {
        "signal": signal.Signals(sig).name,
        "offset": offset,
        "sent": alive,
        "code": code,
        "traceback": "Traceback" in err,
        "lock_left": (out / "_lock.json").exists(),
        "processes_left": not gone_within(tag, night.folders, 10),
    }
    again, again_err = Night(args, tag).finish()
    found["next_night"] = again
    if again != 0 or (alive and (code != EXPECTED[sig] or found["traceback"])):
        found["stderr"] = (err[-2000:], again_err[-2000:])
    return found


def run(data: str, work: Path, offsets: tuple[float, ...] = OFFSETS) -> dict[str, Any]:
    """Every boundary x offset once; returns the trials and their counts."""
    trials = []
    for i, ((boundary, pattern), offset) in enumerate((b, o) for b in BOUNDARIES for o in offsets):
        sig = signal.SIGINT if i % 4 == 3 else signal.SIGTERM
        out = work / f"out-{i}"
        args = ["--output", str(out), "--data", data, "--no-verify", "--seeds", "0-1", "--epochs", "1"]
        found = trial([*args, "--run-id", f"n{i}"], out, pattern, offset, signal.Signals(sig))
        trials.append({"boundary": boundary, **found})
        print(
            f"signals: {i + 1} {boundary} +{offset:g} s {found['signal']}: exit {found['code']}"
            f"{'' if found['sent'] else ' (ended first)'}; next night {found['next_night']}",
            file=sys.stderr,
            flush=True,
        )
        shutil.rmtree(out, ignore_errors=True)
    return {"trials": trials, "counts": counts(trials)}


def counts(trials: list[dict]) -> dict[str, int]:
    """What the loop found: signals sent, clean stops, SIGSEGVs, lost signals and other faults."""
    sent = [t for t in trials if t["sent"]]
    expected = {"SIGTERM": 143, "SIGINT": 130}
    # Killed by the signal itself (as the interpreter exits, its work done): a shell reports 143/130 too.
    by_itself = [t for t in sent if t["code"] == -signal.Signals[t["signal"]].value]
    answered = [t for t in sent if t["code"] == expected[t["signal"]] and not t["traceback"]]
    return {
        "sent": len(sent),
        "ended_first": len(trials) - len(sent),
        "clean": len(answered) + len(by_itself),
        "ended_by_the_signal_itself": len(by_itself),
        "sigsegv": sum(t["code"] == -signal.SIGSEGV for t in sent),
        "lost": sum(t["code"] == 0 for t in sent),
        "tracebacks": sum(t["traceback"] for t in sent),
        "locks_left": sum(t["lock_left"] for t in trials),
        "processes_left": sum(t["processes_left"] for t in trials),
        "next_night_failed": sum(t["next_night"] != 0 for t in trials),
    }


def small_data(folder: Path) -> str:
    """A small real-data subset as IDX files (4,000 train / 1,000 test images)."""
    from lenet_batch.data import fashion_mnist
    from tests import helpers

    helpers.write_dataset(folder, fashion_mnist.load(), n_train=4000, n_test=1000)
    return str(folder)


def section(bench, args: argparse.Namespace) -> dict[str, Any]:
    """`make bench --only signals`: the loop over every boundary and offset."""
    return run(small_data(bench.work / "signals-data"), bench.work / "signals")


def rows(doc: dict) -> list[dict]:
    """The loop's counts as table rows."""
    from tests.benchmarks.table import row

    c = doc["signals"]["counts"]
    faults = c["locks_left"] + c["processes_left"] + c["next_night_failed"]
    return [
        row(
            "signals at stage boundaries: clean stops",
            c["clean"],
            c["sent"],
            ("all, >= 50 sent", lambda o, r: r == 1 and c["sent"] >= 50),
        ),
        row(
            f"  SIGSEGV {c['sigsegv']}, lost {c['lost']}, tracebacks {c['tracebacks']}",
            c["sigsegv"] + c["lost"] + c["tracebacks"],
            None,
            ("0", lambda o, r: o == 0),
        ),
        row(
            f"  locks left {c['locks_left']}, Ray left {c['processes_left']}, "
            f"next nights failed {c['next_night_failed']}",
            faults,
            None,
            ("0", lambda o, r: o == 0),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the loop, print the counts, write the trials as JSON; exit 1 if any signal was not clean."""
    p = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.signal_loop", description=__doc__.splitlines()[0]
    )
    p.add_argument("--offsets", default=",".join(f"{o:g}" for o in OFFSETS), help="seconds after each line")
    p.add_argument("--output-dir", default="bench-results")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lenet-signals-"))
    try:
        found = run(small_data(work / "data"), work, tuple(float(o) for o in args.offsets.split(",")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    path = Path(args.output_dir) / f"signals-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(found, indent=2))
    print(json.dumps(found["counts"]), f"\ntrials: {path}")
    c = found["counts"]
    return (
        0
        if c["clean"] == c["sent"] and not (c["locks_left"] or c["processes_left"] or c["next_night_failed"])
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
