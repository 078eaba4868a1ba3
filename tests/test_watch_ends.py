"""Every end of a nightly reaches the watch, however it ends: a Ray that will not start (9), a refusal (2),
another's lock (5), a stop before run.json (143/130). Each leaves a metrics file that prometheus_client's
parser reads with that attempt's exit code and outcome, and a webhook POST that a local receiver captures;
a failure leaves the last success as it was, a refusal or no Ray writes nothing in the output, no end leaves a
folder that reads "damaged" for ever.

The nightlies run in this process on two synthetic good nights (the newest one's success 3 h ago) and a
small IDX data set; Ray's start is made to fail or to be stopped by a real signal, so no Ray starts here.
"""

import json
import os
import signal
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lenet_batch import cli
from lenet_batch.pipeline import nightly
from lenet_batch.provenance import parse_utc
from lenet_batch.store import hand_writers, lock
from lenet_batch.store.layout import Layout
from tests import helpers
from tests.history_helpers import write_synthetic_runs
from tests.hook_server import hook_server
from tests.sealed_helpers import tree_state
from tests.test_check import beat

NEW = "n9"  # tonight: a run id the output has not seen


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, fashion_mnist) -> str:
    folder = tmp_path_factory.mktemp("watch-data")
    helpers.write_dataset(folder, fashion_mnist, n_train=200, n_test=100)
    return str(folder)


@pytest.fixture
def output(tmp_path) -> Path:
    """Two good nights; the newest succeeded 3 h ago."""
    out = tmp_path / "out"
    ids = write_synthetic_runs(str(out), 2, 2)
    beat(str(out), ids[-1], hours_ago=3)
    return out


def told(prom: Path) -> dict:
    """What the metrics file says of the last attempt and the last success (prometheus_client's parser)."""
    found: dict = {}
    for family in text_string_to_metric_families(prom.read_text()):
        for s in family.samples:
            if s.name == "lenet_batch_last_attempt_exit_code":
                found["exit_code"], found["run_id"] = int(s.value), s.labels["run_id"]
            elif s.name == "lenet_batch_last_attempt_outcome" and s.value == 1:
                found.setdefault("outcomes", []).append(s.labels["outcome"])
            elif s.name == "lenet_batch_last_success_timestamp_seconds":
                found["last_success"] = s.value
            elif s.name == "lenet_batch_last_attempt_timestamp_seconds":
                found["attempt_at"] = s.value
    return found


def night(output: Path, data_dir: str, hook_url: str, *extra: str, run_id: str = NEW) -> int:
    """`lenet-batch nightly -q` in this process, told to the metrics file beside the output and the hook."""
    argv = ["nightly", "--output", str(output), "--data", data_dir, "--no-verify", "--seeds", "0-1"]
    argv += ["--epochs", "1", "--run-id", run_id, "--metrics-file", str(output.parent / "m.prom")]
    return cli.main([*argv, "--notify", hook_url, "--notify-timeout", "5", *extra, "-q"])


def assert_told(output: Path, hook, code: int, outcome: str, run_id: str = NEW) -> dict:
    """The metrics file and the one POST say this attempt ended so; returns the POSTed document."""
    said = told(output.parent / "m.prom")
    assert (said["exit_code"], said["outcomes"], said["run_id"]) == (code, [outcome], run_id)
    assert abs(said["attempt_at"] - time.time()) < 60
    (doc,) = hook.received
    assert (doc["run_id"], doc["state"], doc["exit_code"]) == (run_id, outcome, code)
    assert doc["text"].startswith(f"lenet-batch night {run_id}: ") and f"(exit {code})" in doc["text"]
    return doc


def listed(output: Path, capsys) -> dict[str, dict]:
    """`runs --json` by run id: no night of it reads damaged."""
    capsys.readouterr()
    assert cli.main(["runs", "--output", str(output), "--json"]) == 0
    rows = {row["run_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert not [r for r in rows.values() if r["outcome"] == "damaged"], rows
    return rows


def folders(output: Path) -> set[str]:
    return {str(p.relative_to(output)) for p in output.rglob("*") if p.is_dir()}


# --- a Ray that will not start: told as the night's failure (exit 9), nothing written, the last success kept


RAY_START_FAILURES = {
    "the node timed out": RuntimeError("The current node timed out during startup."),
    "the GCS did not come up": ConnectionError("GCS did not start within 30 s on 127.0.0.1:6379"),
}


@pytest.mark.parametrize("error", RAY_START_FAILURES.values(), ids=RAY_START_FAILURES.keys())
def test_a_ray_that_will_not_start_is_told_and_leaves_the_output_as_it_was(
    output, data_dir, monkeypatch, capsys, error
):
    import ray

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(ray, "init", fail)
    heartbeat = (output / "_last_success.json").read_bytes()
    before, dirs = tree_state(output), folders(output)
    with hook_server() as hook:
        code = night(output, data_dir, hook.url)
    assert code == 9, capsys.readouterr().err[-3000:]  # infrastructure, tried twice: not a bug (1)
    doc = assert_told(output, hook, code, "failed")
    assert (
        doc["text"].startswith(f"lenet-batch night {NEW}: FAILED")
        and "could not start a local Ray" in (doc["text"])
    )
    assert tree_state(output) == before and folders(output) == dirs  # nothing of the night was done
    assert (output / "_last_success.json").read_bytes() == heartbeat  # the failure is no success
    success = parse_utc(json.loads(heartbeat)["finished_at"]).timestamp()
    assert told(output.parent / "m.prom")["last_success"] == pytest.approx(success, abs=1)
    assert NEW not in listed(output, capsys)


FIRST_NIGHTS_THAT_DO_NOT_RUN = {  # (flags, whether Ray's start fails, exit code, outcome told)
    "no data where --data points": (["--data", "/nonexistent/fashion"], False, 2, "refused"),
    "a Ray that will not start": ([], True, 9, "failed"),
}


@pytest.mark.parametrize(
    ("extra", "no_ray", "code", "outcome"),
    FIRST_NIGHTS_THAT_DO_NOT_RUN.values(),
    ids=FIRST_NIGHTS_THAT_DO_NOT_RUN.keys(),
)
def test_a_first_night_that_does_not_run_leaves_no_output_folder(
    tmp_path, data_dir, monkeypatch, extra, no_ray, code, outcome
):
    import ray

    if no_ray:
        monkeypatch.setattr(ray, "init", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no node")))
    output = tmp_path / "new" / "deeper" / "out"  # folders the lock makes, then removes again
    with hook_server() as hook:
        assert night(output, data_dir, hook.url, *extra) == code
    assert_told(output, hook, code, outcome)
    assert sorted(p.name for p in (tmp_path / "new").rglob("*")) == ["deeper", "m.prom"]


# --- a refusal: nothing written in the output; the metrics file and the hook (outside it) are told --------


REFUSALS = {  # what makes the night refuse (exit 2), and the words of its one line
    "other test data for a recorded night": (["--run-id", "2026-01-02"], "is not the one run 2026-01-02"),
    "another test limit for a recorded night": (
        ["--run-id", "2026-01-02", "--test-limit", "50"],
        "scoring its evaluation on --test-limit 50 is refused",
    ),
    "no data where --data points": (["--data", "/nonexistent/fashion"], "/nonexistent/fashion"),
}


@pytest.mark.parametrize(("extra", "said"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refusal_writes_nothing_in_the_output_and_is_told(output, data_dir, capsys, extra, said):
    run_id = extra[extra.index("--run-id") + 1] if "--run-id" in extra else NEW
    before, dirs = tree_state(output), folders(output)
    capsys.readouterr()
    with hook_server() as hook:
        code = night(output, data_dir, hook.url, *extra, run_id=run_id)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and said in line, line
    assert tree_state(output) == before and folders(output) == dirs  # the output as it was
    doc = assert_told(output, hook, 2, "refused", run_id)
    assert doc["text"].startswith(f"lenet-batch night {run_id}: REFUSED (exit 2)")
    assert said in doc["reason"] and doc["reason"] in line
    assert told(output.parent / "m.prom")["last_success"] > 0  # the last success stays in the file


# --- another's lock, or a hand writer at work: exit 5, told -------------------------------------------------


def _live_lock(output: Path):
    token = lock.acquire(Layout(str(output)).run("other"), stale_seconds=3600)
    yield "held by run other"
    lock.release(Layout(str(output)).run("other"), token)


def _lock_is_a_folder(output: Path):
    (output / "_lock.json").mkdir()
    yield str(output / "_lock.json")


def _hand_summary_at_work(output: Path):
    with hand_writers.hand_writer(Layout(str(output)), "summary", NEW, 3600):
        yield "summary"


LOCKS = {"another run's lock": _live_lock, "a folder as the lock": _lock_is_a_folder}
LOCKS["a hand summary at work"] = _hand_summary_at_work


@pytest.mark.parametrize("holder", LOCKS.values(), ids=LOCKS.keys())
def test_another_runs_lock_is_told_as_locked(output, data_dir, capsys, holder):
    held = holder(output)
    said = next(held)
    before, dirs = tree_state(output), folders(output)
    capsys.readouterr()
    with hook_server() as hook:
        code = night(output, data_dir, hook.url)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 5 and said in line, line
    assert tree_state(output) == before and folders(output) == dirs
    doc = assert_told(output, hook, 5, "locked")
    assert said in doc["reason"]
    next(held, None)


# --- stopped before run.json: told before exiting; nothing left, or a night that reads interrupted ----------


def _stop_while_ray_starts(monkeypatch, sig: int) -> None:
    import ray

    def stopped(*args, **kwargs):
        os.kill(os.getpid(), sig)  # a real signal: the CLI's own handlers unwind the night
        time.sleep(3)  # Ray's start is not cut short (cluster/held_signals.py): the stop is handled after it

    monkeypatch.setattr(ray, "init", stopped)


def _stop_before_the_lock(monkeypatch, sig: int) -> None:
    def stopped(*args, **kwargs):
        os.kill(os.getpid(), sig)
        time.sleep(30)

    monkeypatch.setattr(nightly, "plan_night", stopped)


STOPS = {  # (signal, exit code)
    "SIGTERM": (signal.SIGTERM, 143),
    "Ctrl-C": (signal.SIGINT, 130),
}


@pytest.mark.parametrize(("sig", "code"), STOPS.values(), ids=STOPS.keys())
def test_a_stop_while_ray_starts_is_told_and_the_night_reads_interrupted_with_its_log(
    output, data_dir, monkeypatch, capsys, sig, code
):
    _stop_while_ray_starts(monkeypatch, sig)
    started = time.monotonic()
    with hook_server() as hook:
        assert night(output, data_dir, hook.url) == code
    assert time.monotonic() - started < 20  # the start, then the stop: no training, no second try of Ray
    doc = assert_told(output, hook, code, "interrupted")
    assert doc["text"].startswith(f"lenet-batch night {NEW}: INTERRUPTED in train (exit {code})")
    assert not (output / "_lock.json").exists()
    row = listed(output, capsys)[NEW]
    assert (row["outcome"], row["stage"]) == ("interrupted", "train"), row
    (log,) = (output / "runs" / NEW / "logs").glob("nightly-*.log")
    assert "Fashion-MNIST from" in log.read_text()


ENDS_BEFORE_THE_LOCK = {  # (signal, or None for a bug; exit code; outcome)
    "SIGTERM": (signal.SIGTERM, 143, "interrupted"),
    "Ctrl-C": (signal.SIGINT, 130, "interrupted"),
    "a bug": (None, 1, "failed"),
}


@pytest.mark.parametrize(("sig", "code", "outcome"), ENDS_BEFORE_THE_LOCK.values(), ids=ENDS_BEFORE_THE_LOCK)
def test_an_end_before_the_lock_leaves_nothing_in_the_output_and_is_told(
    output, data_dir, monkeypatch, capsys, sig, code, outcome
):
    if sig is None:
        monkeypatch.setattr(nightly, "plan_night", lambda *a, **k: 1 / 0)
    else:
        _stop_before_the_lock(monkeypatch, sig)
    before, dirs = tree_state(output), folders(output)
    with hook_server() as hook:
        assert night(output, data_dir, hook.url) == code
    assert tree_state(output) == before and folders(output) == dirs  # no folder of logs alone
    assert_told(output, hook, code, outcome)
    assert NEW not in listed(output, capsys)


# --- stopped mid-training, on a real Ray cluster: told before exiting, the night reads interrupted ----------


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), STOPS.values(), ids=STOPS.keys())
def test_a_stop_mid_training_is_told_before_the_night_exits(
    ray_cluster, small_data_dir, tmp_path, capsys, monkeypatch, sig, code
):
    from tests.test_signals import Driver

    for name, value in ray_cluster.env().items():  # the driver joins the cluster as its nodes see it
        monkeypatch.setenv(name, value)
    out, prom = tmp_path / "out", tmp_path / "m.prom"
    argv = ["nightly", "--output", str(out), "--data", small_data_dir, "--no-verify", "--run-id", NEW]
    argv += ["--seeds", "0-1", "--epochs", "20", "--train-limit", "4000", "--test-limit", "500"]
    argv += ["--address", ray_cluster.address, "--metrics-file", str(prom), "--notify-timeout", "5"]
    checkpoints = [out / "runs" / NEW / "seeds" / f"seed={s}" / "checkpoint" / "latest.json" for s in (0, 1)]
    with hook_server() as hook:
        driver = Driver([*argv, "--notify", hook.url], tag=f"watch-{code}")
        try:
            driver.wait_for(lambda: any(c.exists() for c in checkpoints), "an epoch checkpoint")
        except AssertionError:
            driver.proc.kill()
            raise AssertionError("".join(driver.finish()[1])[-3000:]) from None
        got, err = driver.finish(sig)
    assert got == code and "Traceback" not in err, err[-3000:]
    doc = assert_told(out, hook, code, "interrupted")
    assert doc["text"].startswith(f"lenet-batch night {NEW}: INTERRUPTED in train (exit {code})")
    assert told(prom)["last_success"] == 0  # never succeeded
    row = listed(out, capsys)[NEW]
    assert (row["outcome"], row["stage"]) == ("interrupted", "train"), row
    assert ("stopped by SIGTERM" in row["reason"]) == (sig == signal.SIGTERM), row  # which stop, inside Ray
    assert not (out / "_lock.json").exists()


@pytest.mark.parametrize("stopped", [False, True], ids=["refused", "stopped before the lock"])
def test_a_first_night_on_a_new_output_is_told_without_a_word_about_its_health(
    tmp_path, monkeypatch, capsys, stopped
):
    out = tmp_path / "new"
    if stopped:
        _stop_before_the_lock(monkeypatch, signal.SIGTERM)
    with hook_server() as hook:
        code = night(out, str(tmp_path / "no-data"), hook.url)
    err = capsys.readouterr().err
    assert code == (143 if stopped else 2) and "health" not in err, err  # the night's own line says why
    assert not [p for p in out.rglob("*")]  # nothing in it (the lock's folder may be left, empty)
    assert_told(out, hook, code, "interrupted" if stopped else "refused")


def test_settings_that_do_not_parse_are_refused_before_the_watch_knows_where_to_tell(
    output, tmp_path, capsys
):
    with hook_server() as hook:
        code = night(output, str(tmp_path), hook.url, "--epochs", "0")
    assert code == 2 and "--epochs must be at least 1" in capsys.readouterr().err
    assert hook.received == [] and not (output.parent / "m.prom").exists()
