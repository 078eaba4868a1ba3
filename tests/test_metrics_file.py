"""The Prometheus textfile (--metrics-file): parsed by prometheus_client's own parser, written atomically."""

import contextlib
import datetime as dt
import os
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lenet_batch import cli
from lenet_batch.monitor import metrics
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from tests import helpers
from tests.fault_helpers import assert_one_line_error, closed_port, silent_endpoint
from tests.history_helpers import write_synthetic_runs
from tests.s3_server import s3_env
from tests.test_check import NEWEST, beat, edit_run, record_changes


def parse(text: str) -> dict[str, list]:
    """Family name -> its samples, through the reference parser (which rejects malformed lines)."""
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert all(f.type == "gauge" and f.documentation for f in families.values())
    return {name: f.samples for name, f in families.items()}


def value(samples: list, **labels: str) -> float:
    """The one sample whose labels include these."""
    found = [s.value for s in samples if labels.items() <= s.labels.items()]
    assert len(found) == 1, (labels, samples)
    return found[0]


@pytest.fixture
def output(tmp_path) -> str:
    out = str(tmp_path / "out")
    write_synthetic_runs(out, 3, 3, {2: "regressed"})
    beat(out, "2026-01-02", hours_ago=2)

    def timed(doc):
        doc["updated_at"] = "2026-01-03T02:10:00Z"
        doc["stages"]["train"]["seconds"] = 41.5
        doc["stages"]["infer"]["seconds"] = 5.25

    edit_run(out, NEWEST, timed)
    record_changes(out, NEWEST, [{"key": "lr", "baseline": "0.1", "current": "0.01"}])
    return out


def test_check_writes_every_family_with_its_labels(output, tmp_path, capsys):
    path = tmp_path / "textfile" / "lenet_batch.prom"
    assert cli.main(["check", "--output", output, "--metrics-file", str(path), "-q"]) == 4
    found = parse(path.read_text())
    nightly = ("last_attempt_",)  # the nightly's own families: a file only check wrote has none
    assert set(found) == {metrics.PREFIX + n for n in metrics.FAMILIES if not n.startswith(nightly)}
    assert value(found["lenet_batch_health"], state="regressed") == 1
    assert sum(s.value for s in found["lenet_batch_health"]) == 1 and len(found["lenet_batch_health"]) == 7
    run = {"output": output, "run_id": NEWEST}
    assert value(found["lenet_batch_last_run_state"], state="regressed", **run) == 1
    assert value(found["lenet_batch_regressed"], **run) == 1
    assert value(found["lenet_batch_stage_seconds"], stage="train", **run) == 41.5
    assert value(found["lenet_batch_stage_seconds"], stage="infer", **run) == 5.25
    assert value(found["lenet_batch_seeds"], status="ok", **run) == 3
    assert value(found["lenet_batch_seeds"], status="failed", **run) == 0
    mean = value(found["lenet_batch_mean_accuracy"], **run)
    assert 0.75 < mean < 0.85 and value(found["lenet_batch_ensemble_accuracy"], **run) > mean
    assert 0 < value(found["lenet_batch_gate_p_value"], **run) < 0.01
    assert value(found["lenet_batch_changes"], **run) == 1
    lr = {"baseline_run_id": "2026-01-02", "key": "lr", "baseline": "0.1", "current": "0.01"}
    assert value(found["lenet_batch_change_info"], **run, **lr) == 1
    when = dt.datetime(2026, 1, 3, 2, 10, tzinfo=dt.UTC).timestamp()
    assert value(found["lenet_batch_last_run_timestamp_seconds"], **run) == when
    age = dt.datetime.now(dt.UTC).timestamp() - value(found["lenet_batch_last_success_timestamp_seconds"])
    assert 7100 < age < 7300
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())  # monitoring reads it


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_never_succeeded_is_time_zero_and_labels_are_escaped(tmp_path):
    out = tmp_path / 'we"ird\\out'
    write_synthetic_runs(str(out), 1, 2)
    storage.remove(Layout(str(out)).heartbeat())
    path = tmp_path / "m.prom"
    assert cli.main(["check", "--output", str(out), "--metrics-file", str(path), "-q"]) == 7
    found = parse(path.read_text())
    assert value(found["lenet_batch_last_success_timestamp_seconds"]) == 0
    assert value(found["lenet_batch_health"], state="stale", output=str(out)) == 1


def test_the_file_is_replaced_whole_and_no_temporary_file_is_left(output, tmp_path):
    folder = tmp_path / "textfile"
    folder.mkdir()
    (folder / "lenet_batch.prom").write_text("# old\n")
    inode = (folder / "lenet_batch.prom").stat().st_ino
    assert cli.main(["check", "--output", output, "--metrics-file", str(folder / "lenet_batch.prom")]) == 4
    assert os.listdir(folder) == ["lenet_batch.prom"]  # the temporary file was renamed over it
    assert (folder / "lenet_batch.prom").stat().st_ino != inode  # a new file, not rewritten in place
    assert "lenet_batch_health" in (folder / "lenet_batch.prom").read_text()


def test_label_values_with_quotes_backslashes_and_newlines_read_back_whole(output, tmp_path):
    odd = 'a "quoted" \\ value\nover two lines'
    record_changes(output, NEWEST, [{"key": "lr", "baseline": odd, "current": "0.01"}])
    path = tmp_path / "m.prom"
    assert cli.main(["check", "--output", output, "--metrics-file", str(path), "-q"]) == 4
    info = parse(path.read_text())["lenet_batch_change_info"]
    assert value(info, baseline=odd, current="0.01") == 1


def _unwritable(tmp_path, kind: str) -> str:
    """A metrics-file path that cannot be written: under a regular file, a folder, or a symlink loop."""
    if kind == "under a file":
        (tmp_path / "a-file").write_text("")
        return str(tmp_path / "a-file" / "m.prom")
    if kind == "a folder":
        (tmp_path / "m.prom").mkdir()
        (tmp_path / "m.prom" / "kept").write_text("")
        return str(tmp_path / "m.prom")
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    return str(tmp_path / "loop" / "m.prom")


@pytest.mark.parametrize("kind", ["under a file", "a folder", "under a symlink loop"])
def test_a_metrics_file_that_cannot_be_written_fails_the_check_in_one_line(output, tmp_path, capsys, kind):
    path = _unwritable(tmp_path, kind)
    before = sorted(os.listdir(tmp_path))
    assert cli.main(["check", "--output", output, "--metrics-file", path, "-q"]) == 2
    err = capsys.readouterr().err
    assert f"metrics file {path} not written: " in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == before  # no temporary file left beside it


def test_a_remote_metrics_file_is_refused(output, capsys):
    assert cli.main(["check", "--output", output, "--metrics-file", "s3://bucket/m.prom"]) == 2
    assert "--metrics-file s3://bucket/m.prom: give a local path" in capsys.readouterr().err


# --- a check that cannot read the output says so in the file: check_success 0, the stale state gone ---------

BEFORE = """# HELP lenet_batch_health as the last check found it
# TYPE lenet_batch_health gauge
lenet_batch_health{output="OUT",state="healthy"} 1.0
# HELP lenet_batch_last_attempt_exit_code the nightly's
# TYPE lenet_batch_last_attempt_exit_code gauge
lenet_batch_last_attempt_exit_code{output="OUT",run_id="n1"} 0.0
"""


@contextlib.contextmanager
def _unreachable(kind: str, tmp_path):
    """(output, environment) of an output check cannot read: an S3 endpoint that refuses or never answers,
    or a local folder that is not there."""
    if kind == "missing folder":
        yield str(tmp_path / "nowhere"), {}
        return
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(silent_endpoint()) if kind == "silent S3" else closed_port()
        yield "s3://bucket/lenet", s3_env(f"http://127.0.0.1:{port}")


@pytest.mark.parametrize("kind", ["refusing S3", "silent S3", "missing folder"])
def test_a_check_that_cannot_read_the_output_writes_check_success_0(tmp_path, kind):
    prom = tmp_path / "m.prom"
    with _unreachable(kind, tmp_path) as (out, env):
        prom.write_text(BEFORE.replace("OUT", out))
        quick = ("--storage-timeout", "1", "--storage-retries", "0", "-q")
        done = helpers.run_cli("check", "--output", out, "--metrics-file", str(prom), *quick, env=env)
    assert_one_line_error(done.returncode, done.stderr, 2, out)
    found = parse(prom.read_text())
    assert value(found["lenet_batch_check_success"], output=out) == 0
    assert abs(value(found["lenet_batch_check_timestamp_seconds"], output=out) - time.time()) < 60
    assert "lenet_batch_health" not in found  # what the last check found is not shown as still true
    assert value(found["lenet_batch_last_attempt_exit_code"], run_id="n1") == 0  # the nightly's, kept
