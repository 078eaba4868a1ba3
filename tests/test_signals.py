"""A signal at any moment is a clean stop: SIGTERM exits 143 with the lock released and the running stage
marked interrupted, inside ray.init, at Ray's shutdown, while scoring, at the summary's baseline and gate
lines; a SIGKILLed driver leaves no process of its local Ray behind after 10 s and keeps its durable log;
`query` stops on SIGTERM and at --timeout."""

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from lenet_batch.scoring.partitions import write_partition
from lenet_batch.store import run_log, storage
from lenet_batch.store.layout import Layout, RunRef
from tests import helpers
from tests.fault_helpers import assert_one_line_error
from tests.prediction_helpers import fake_batches, fashion

TAG = "LENET_BATCH_TEST_TAG"  # inherited by the driver's local Ray: finds its processes, and only them
STOPPED = "lenet-batch nightly: stopped by SIGTERM; tasks stopped, lock released"


class Driver:
    """`lenet-batch ARGS` in a subprocess whose stderr lines are collected as they come."""

    def __init__(self, args: list[str], tag: str, new_group: bool = False) -> None:
        self.proc = subprocess.Popen(
            [str(helpers.VENV_BIN / "lenet-batch"), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=helpers.REPO,
            env={**os.environ, TAG: tag},
            # A shell's background job starts with SIGINT ignored, and so would this child: Ctrl-C as usual.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            start_new_session=new_group,  # a process group of its own, to be killed as one
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, ready: Callable[[], bool], what: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.proc.poll() is None, f"ended before {what}:\n{''.join(self.lines)[-3000:]}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def seen(self, pattern: str) -> Callable[[], bool]:
        return lambda: any(re.search(pattern, line) for line in self.lines)

    def finish(self, sig: int | None = None, timeout: float = 120) -> tuple[int, str]:
        if sig is not None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout)
        self.reader.join(10)
        return self.proc.returncode, "".join(self.lines)


def tagged(tag: str) -> list[int]:
    """Processes whose environment carries TAG=tag."""
    entry = f"{TAG}={tag}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(int(pid))
        except OSError:
            continue
    return found


def session_dirs(pids: list[int]) -> set[str]:
    """The session folders of the Ray processes among `pids` (from the raylet's and GCS's flags)."""
    found = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            found |= {a.split("=", 1)[1] for a in argv if a.startswith("--session_dir=")}
            found |= {a.split("=", 1)[1].removesuffix("/logs") for a in argv if a.startswith("--log_dir=")}
    return found


def ray_titled_under(folders: set[str]) -> list[int]:
    """`ray::…` processes (agents, workers) with a file open under one of `folders`: their process title
    may have overwritten the environment that `tagged` reads."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::"):
                continue
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            if any(link.startswith(tuple(f"{d}/" for d in folders)) for link in links):
                found.append(int(pid))
    return found


def of_its_ray(tag: str, folders: set[str] = frozenset()) -> list[int]:
    """The driver's processes and its local Ray's: tagged, or titled `ray::` with a file in its session."""
    return sorted(set(tagged(tag)) | set(ray_titled_under(folders) if folders else []))


def seconds_until_gone(tag: str, limit: float = 30, folders: set[str] = frozenset()) -> float:
    started = time.monotonic()
    while of_its_ray(tag, folders) and time.monotonic() - started < limit:
        time.sleep(0.1)
    return time.monotonic() - started


def load_factor() -> float:
    """How many times over the machine's cores are booked now (1 on a quiet machine): waits scale by it."""
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def assert_gone(tag: str, seconds: float = 10, folders: set[str] = frozenset()) -> float:
    """No process of the driver's Ray is left after `seconds`, times the load found (a busy 2-core host
    runs everything, a SIGKILL's clean-up included, several times slower); returns how long it took."""
    limit = seconds * load_factor()
    gone = seconds_until_gone(tag, limit=limit + 10, folders=folders)
    left = _names(of_its_ray(tag, folders))
    assert gone < limit, f"still there {gone:.1f} s later (limit {limit:.0f} s): {left}"
    return gone


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("signals-data")
    helpers.write_dataset(folder, fashion(), n_train=4000, n_test=1000)
    return str(folder)


def _stages(out: Path) -> dict[str, str]:
    record = json.loads((out / "runs" / "n1" / "run.json").read_text())
    return {name: stage["status"] for name, stage in record["stages"].items()}


# Moments of one night, in order; each SIGTERM is followed by a run that resumes. (what, line to wait for,
# the stage that must read interrupted, or None when the signal comes after the last stage).
SIGTERM_MOMENTS = [
    ("Ray shutdown after training", r"\[2/2 seeds done\]", "train"),
    ("scoring", r"scoring 2 seeds in this process", "infer"),
    ("the summary's start", r"summarising \(", "summary"),
    ("the gate line", r"INFO gate: n/a", None),
]


@pytest.mark.slow
def test_a_signal_at_any_moment_of_a_night_is_a_clean_stop_and_the_next_run_resumes(
    data_dir, tmp_path, capsys
):
    out, tag = tmp_path / "out", uuid.uuid4().hex
    args = ["nightly", "--output", str(out), "--data", data_dir, "--no-verify", "--run-id", "n1"]
    args += ["--seeds", "0-1", "--epochs", "4"]

    # SIGTERM while Ray starts (the data is loaded first, then ray.init takes seconds).
    driver = Driver(args, tag)
    driver.wait_for(driver.seen("Fashion-MNIST from"), "the data")
    code, err = driver.finish(signal.SIGTERM)
    assert code == 143 and "Traceback" not in err and err.strip().splitlines()[-1].startswith(STOPPED), err
    assert not (out / "_lock.json").exists()
    assert_gone(tag)

    # SIGKILL mid-training: no process of its Ray outlives it by 10 s; its log keeps what it said.
    driver = Driver(args, tag)
    checkpoints = [out / "runs" / "n1" / "seeds" / f"seed={s}" / "checkpoint" / "latest.json" for s in (0, 1)]
    driver.wait_for(lambda: any(c.exists() for c in checkpoints), "an epoch checkpoint")
    folders = session_dirs(tagged(tag))
    code, _ = driver.finish(signal.SIGKILL)
    assert code == -signal.SIGKILL
    gone = assert_gone(tag, folders=folders)
    killed_log = [p for p in (out / "runs" / "n1" / "logs").iterdir() if f"-{driver.proc.pid}.log" in p.name]
    assert "training seeds [0, 1] for 4 epochs" in killed_log[0].read_text()
    assert (out / "_lock.json").exists()  # taken over at once by the next run: its holder is gone

    for what, line, stage in SIGTERM_MOMENTS:
        driver = Driver(args, tag)
        driver.wait_for(driver.seen(line), what)
        code, err = driver.finish(signal.SIGTERM)
        assert code == 143 and "Traceback" not in err, (what, err[-3000:])
        assert err.strip().splitlines()[-1].startswith(STOPPED), (what, err[-3000:])
        assert not (out / "_lock.json").exists(), what
        assert_gone(tag)
        stages = _stages(out)
        assert set(stages.values()) <= {"complete", "interrupted"}, (what, stages)
        if stage is not None:
            assert stages[stage] == "interrupted", (what, stages)
        else:
            assert stages["summary"] == "complete", (what, stages)
        if what.startswith("Ray shutdown"):
            assert "taking over the lock" in err and "resuming after epoch" in err, err[-3000:]

    code, err = Driver(args, tag).finish()
    assert code == 0, err[-3000:]
    assert set(_stages(out).values()) == {"complete"}
    for seed in (0, 1):
        metrics = json.loads((out / "runs" / "n1" / "seeds" / f"seed={seed}" / "metrics.json").read_text())
        assert len(metrics["epochs"]) == 4 and len(metrics["attempts"]) == 2
    logs = sorted((out / "runs" / "n1" / "logs").iterdir())
    # One log per attempt, each saying how it ended: the SIGTERMs (the first too), the SIGKILLed one cut off.
    assert sum("WARNING stopped by SIGTERM" in p.read_text() for p in logs) == len(SIGTERM_MOMENTS) + 1
    assert len(logs) == len(SIGTERM_MOMENTS) + 3
    with capsys.disabled():
        print(f"\n  SIGKILLed driver: its local Ray gone {gone:.1f} s later")


AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def _names(pids: list[int]) -> set[str]:
    """The processes' command lines (Ray's process titles are padded with spaces: stripped)."""
    names = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            names.add(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip())
    return names


@pytest.mark.slow
@pytest.mark.parametrize("killed", ["the driver", "its process group"])
def test_a_sigkilled_train_driver_leaves_no_ray_agent_or_worker_behind(data_dir, tmp_path, killed):
    tag = uuid.uuid4().hex
    args = ["train", "--output", str(tmp_path / "out"), "--data", data_dir, "--no-verify", "--seeds", "0-1"]
    driver = Driver([*args, "--epochs", "20"], tag, new_group=True)
    driver.wait_for(driver.seen("epoch 1/20"), "an epoch line")
    folders = session_dirs(tagged(tag))
    running = _names(of_its_ray(tag, folders))
    assert all(any(agent in name for name in running) for agent in AGENTS), running  # seen, then gone
    if killed == "the driver":
        driver.proc.kill()
    else:  # as `kill -9 -PGID`, a container's stop or a job scheduler may: the watchdog survives it
        os.killpg(driver.proc.pid, signal.SIGKILL)
    driver.finish()
    gone = assert_gone(tag, folders=folders)
    print(f"\n  SIGKILL of {killed}: its Ray gone {gone:.1f} s later")


# --- the durable log on S3: saved every few seconds while the command runs, removed if it was refused ------


@pytest.mark.parametrize("refused", [False, True], ids=["kept", "refused"])
def test_the_durable_log_on_s3_is_saved_while_the_command_runs(s3_endpoint, monkeypatch, refused):
    monkeypatch.setattr(run_log, "SAVE_SECONDS", 0.2)
    run = Layout(s3_endpoint.uri("out")).run("r")
    handler = run_log.attach(run, "nightly-test.log")
    logger = logging.getLogger("lenet_batch.test")
    logger.setLevel(logging.INFO)
    try:
        logger.info("before the run exists")
        time.sleep(0.6)
        assert not storage.exists(handler.uri)  # no run yet: nothing is written for it
        storage.write_json_atomic(run.run_json, {"run_id": "r", "stages": {}})
        logger.info("training")
        deadline = time.monotonic() + 10
        while not storage.exists(handler.uri) and time.monotonic() < deadline:
            time.sleep(0.1)
        saved = storage.read_bytes(handler.uri).decode()  # while the command still runs: a SIGKILL keeps it
        assert saved.endswith("INFO training\n") and "before the run exists" in saved
    finally:
        run_log.detach(handler, keep=not refused)
    assert storage.exists(handler.uri) == (not refused)


# --- query: interruptible, and bounded by --timeout --------------------------------------------------------

LONG_QUERY = (
    "SELECT sum(a.confidence * b.confidence * c.confidence * d.confidence) "
    "FROM predictions a, predictions b, predictions c, predictions d"
)


@pytest.fixture(scope="module")
def predictions(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("query-out"))
    write_partition(RunRef(out, "r"), 0, fake_batches(1000, 200, 0), "e" * 64)
    return out


def test_query_stops_at_its_timeout_with_one_line(predictions):
    started = time.monotonic()
    result = helpers.run_cli(
        "query", LONG_QUERY, "--output", predictions, "--timeout", "1", "-q", timeout=120
    )
    assert_one_line_error(result.returncode, result.stderr, 2, "query: stopped after 1 s (--timeout)")
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("sig", "code", "line"),
    [(signal.SIGTERM, 143, "stopped by SIGTERM"), (signal.SIGINT, 130, "interrupted")],
)
def test_query_is_interruptible(predictions, sig, code, line):
    driver = Driver(["query", LONG_QUERY, "--output", predictions, "-v"], tag="query")
    driver.wait_for(driver.seen("files: running"), "the query to start", timeout=60)
    time.sleep(0.5)  # inside DuckDB by now
    started = time.monotonic()
    got, err = driver.finish(sig, timeout=60)
    assert got == code and "Traceback" not in err, err[-3000:]
    assert err.strip().splitlines()[-1].endswith(line)
    assert time.monotonic() - started < 10


# --- a signal's interrupt is never lost, and never cuts Ray's start or stop short ---------------------------


class _SignalInFinalizer:
    """An object whose finalizer is running when the signal's handler runs (as one in the summary was)."""

    def __init__(self, sig: int) -> None:
        self.sig = sig

    def __del__(self) -> None:
        os.kill(os.getpid(), self.sig)
        time.sleep(0.2)  # the handler runs in here: its KeyboardInterrupt is "ignored" by Python


@pytest.mark.parametrize(("sig", "by_sigterm"), [(signal.SIGTERM, True), (signal.SIGINT, False)])
def test_an_interrupt_a_finalizer_swallowed_is_raised_again(sig, by_sigterm, capsys):
    from lenet_batch.cli import signals

    seen = []
    with pytest.raises(KeyboardInterrupt), signals.sigterm_handled():
        try:
            _SignalInFinalizer(sig)  # collected at once
            for _ in range(200):
                time.sleep(0.01)
        finally:
            seen.append(signals.stopped_by_sigterm())  # as the command's end reads it
    assert seen == [by_sigterm]
    assert "Traceback" not in capsys.readouterr().err  # not printed as an ignored exception


def test_a_command_that_ends_after_a_sigterm_it_did_not_see_exits_143(monkeypatch, tmp_path, capsys):
    from lenet_batch.cli import commands, signals

    def swallows(args, settings) -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
        except KeyboardInterrupt:  # as a library's `except BaseException` might
            pass
        return 0

    monkeypatch.setitem(commands.COMMANDS, "runs", swallows)
    from lenet_batch import cli

    assert cli.main(["runs", "--output", str(tmp_path)]) == 143
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("runs: stopped by SIGTERM as it ended; what it ran is complete")
    )
    assert not signals.stopped_by_sigterm()  # the next command in this process starts unstopped


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1])
def test_signals_held_during_a_block_are_handled_once_when_it_ends(sig):
    from lenet_batch.cluster.held_signals import signals_held

    seen: list[tuple[int, float]] = []
    previous = signal.signal(sig, lambda got, frame: seen.append((got, time.monotonic())))
    try:
        with signals_held(signal.SIGUSR1):
            os.kill(os.getpid(), sig)
            os.kill(os.getpid(), sig)
            time.sleep(0.1)
            ended = time.monotonic()
            assert seen == []  # nothing cut the block short
        assert [got for got, _ in seen] == [sig] and seen[0][1] >= ended
    finally:
        signal.signal(sig, previous)
