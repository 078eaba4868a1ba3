"""The README's "Watching it from monitoring", run: the ends the watch tells with their exit codes, the
families a stopped nightly adds to the metrics file, and the alert rules (checked and unit-tested by promtool,
where Debian's prometheus package gives it; the test says why it is skipped when it does not)."""

import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from lenet_batch import cli
from lenet_batch.errors import (
    ClusterUnavailable,
    DataError,
    GateInconclusive,
    LockHeld,
    RegressionDetected,
    SeedsFailed,
    StorageError,
)
from lenet_batch.monitor import health, metrics
from lenet_batch.monitor.watch import attempt_end
from lenet_batch.state.outcome import DAMAGED, OUTCOMES, RUNNING
from tests import readme
from tests.history_helpers import write_synthetic_runs
from tests.test_watch_ends import _stop_while_ray_starts, data_dir  # noqa: F401 - a fixture

# (outcome, exit code) -> an end of that kind (None: a good night) and whether the attempt wrote anything
ENDS = {
    ("ok", 0): (None, True),
    ("regressed", 4): (RegressionDetected("gate: REGRESSED"), True),
    ("inconclusive", 8): (GateInconclusive("gate: inconclusive"), True),
    ("seeds_failed", 3): (SeedsFailed("train: 1 of 3 seeds failed"), True),
    ("failed", 1): (ZeroDivisionError("division by zero"), False),
    ("failed", 2): (StorageError("the history was not written: disk full"), True),
    ("failed", 9): (ClusterUnavailable("Ray could not be started"), False),
    ("refused", 2): (DataError("--data /x: not found"), False),
    ("locked", 5): (LockHeld("held by run other"), False),
    ("interrupted", 143): (KeyboardInterrupt("SIGTERM"), False),
    ("interrupted", 130): (KeyboardInterrupt(), False),
}


def test_the_ends_told_are_the_watchs_with_their_exit_codes():
    shown = set()
    for line in readme.block("told-ends").splitlines():
        outcome, *rest = line.split()
        codes = [int(word) for word in rest[: next(i for i, w in enumerate(rest) if not w.isdigit())]]
        shown |= {(outcome, code) for code in codes}
    assert shown == set(ENDS)
    assert {outcome for outcome, _ in shown} == set(OUTCOMES) - {DAMAGED, RUNNING}  # every attempt's end
    for (outcome, code), (error, wrote) in ENDS.items():
        end = attempt_end("n1", error, None, wrote)
        assert (end.outcome, end.exit_code) == (outcome, code), error


def series(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample, through prometheus_client's parser."""
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def test_a_night_stopped_while_ray_starts_adds_its_attempt_and_keeps_the_checks(
    tmp_path,
    data_dir,  # noqa: F811 - the fixture
    monkeypatch,
    capsys,
):
    write_synthetic_runs("./runs", 3, 3)
    prom = tmp_path / "m.prom"
    assert cli.main(["check", "--metrics-file", str(prom), "-q"]) == 7
    _stop_while_ray_starts(monkeypatch, signal.SIGTERM)
    argv = ["nightly", "--run-id", "2026-11-29", "--data", data_dir, "--no-verify", "--seeds", "0", "-q"]
    assert cli.main([*argv, "--epochs", "1", "--metrics-file", str(prom)]) == 143
    written = series(prom.read_text())
    shown = series("\n".join(f"{line}" for line in _with_types(readme.block("attempt-metrics"))))
    for name, labels, value in shown:
        same = [v for n, ls, v in written if n == name and ls == labels]
        assert same, (name, labels, written)
        assert same[0] == value or name.endswith("timestamp_seconds"), (name, same, value)
    outcomes = [ls["outcome"] for n, ls, v in written if n == "lenet_batch_last_attempt_outcome" and v == 1]
    assert outcomes == ["interrupted"]
    assert ("lenet_batch_check_success", {"output": "./runs"}, 1.0) in written  # check's, kept


def _with_types(block: str) -> list[str]:
    """The README's sample lines, each family declared a gauge first (the parser's types)."""
    lines = []
    for line in block.splitlines():
        name = line.split("{")[0]
        lines += [f"# TYPE {name} gauge", line]
    return lines


def rules() -> list[dict]:
    return yaml.safe_load(readme.block("alert-rules"))["groups"][0]["rules"]


def test_the_rules_watch_only_what_is_written_in_its_own_words():
    ours = {metrics.PREFIX + name for name in metrics.FAMILIES}
    covered = set()
    for rule in rules():
        names = set(re.findall(r"\b(?:lenet_batch|node_textfile)_\w+", rule["expr"]))
        assert names <= ours | {"node_textfile_mtime_seconds"}, rule
        covered |= names
        for state in re.findall(r'state=~"([^"]+)"', rule["expr"]):
            assert set(state.split("|")) <= set(health.STATES), rule
        for outcome in re.findall(r'outcome=~"([^"]+)"', rule["expr"]):
            assert set(outcome.split("|")) <= set(OUTCOMES), rule
    # a failing check, a stale file, a stale last success, a failed last attempt, an unhealthy output
    assert {
        "lenet_batch_check_success",
        "node_textfile_mtime_seconds",
        "lenet_batch_last_success_timestamp_seconds",
        "lenet_batch_last_attempt_outcome",
        "lenet_batch_health",
    } <= covered


def promtool() -> str:
    """promtool, or the test is skipped saying where it comes from."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip(
            "promtool not found: it comes with Debian's prometheus package (.ci/run unpacks it to "
            "/usr/local/bin without installing the server)"
        )
    return found


def test_promtool_checks_the_rules(tmp_path):
    (tmp_path / "rules.yml").write_text(readme.block("alert-rules"))
    done = subprocess.run([promtool(), "check", "rules", str(tmp_path / "rules.yml")], capture_output=True)
    assert done.returncode == 0 and b"SUCCESS: 5 rules found" in done.stdout, done.stdout + done.stderr


BAD, GOOD = "s3://bucket/bad", "s3://bucket/good"
TEXTFILE = "/var/lib/prometheus/node-exporter/lenet_batch.prom"
# A sample every 5 min over 33 h: `bad` never checked successfully, never succeeded, its file never rewritten
# and its last attempt failed; `good` is checked and succeeds all along (time() is the sample's time).
SERIES = [
    (f'lenet_batch_check_success{{output="{BAD}"}}', "0x400"),
    (f'lenet_batch_check_success{{output="{GOOD}"}}', "1x400"),
    (f'lenet_batch_last_success_timestamp_seconds{{output="{BAD}"}}', "0x400"),
    (f'lenet_batch_last_success_timestamp_seconds{{output="{GOOD}"}}', "0+300x400"),
    (f'node_textfile_mtime_seconds{{file="{TEXTFILE}"}}', "0x400"),
    ('node_textfile_mtime_seconds{file="/var/lib/prometheus/node-exporter/other.prom"}', "0x400"),
    (f'lenet_batch_health{{output="{BAD}",state="failed"}}', "1x400"),
    (f'lenet_batch_health{{output="{GOOD}",state="healthy"}}', "1x400"),
    (f'lenet_batch_health{{output="{GOOD}",state="failed"}}', "0x400"),
    (f'lenet_batch_last_attempt_outcome{{output="{BAD}",run_id="n9",outcome="failed"}}', "1x400"),
    (f'lenet_batch_last_attempt_outcome{{output="{GOOD}",run_id="n8",outcome="ok"}}', "1x400"),
]
FIRING = {  # alert -> the labels of the series that fire it (and only those)
    "LenetBatchNotHealthy": {"output": BAD, "state": "failed"},
    "LenetBatchLastAttemptFailed": {"output": BAD, "run_id": "n9", "outcome": "failed"},
    "LenetBatchCheckFailing": {"output": BAD},
    "LenetBatchMetricsFileStale": {"file": TEXTFILE},
    "LenetBatchStale": {"output": BAD},
}


def _expected(rule: dict, labels: dict) -> dict:
    """The alert as Alertmanager would get it: the rule's labels, the series', the summary filled in."""
    template = rule["annotations"]["summary"]
    summary = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)
    return {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": {"summary": summary}}


def test_promtool_fires_each_rule_on_what_it_watches_and_on_nothing_else(tmp_path):
    by_name = {rule["alert"]: rule for rule in rules()}
    assert set(by_name) == set(FIRING)
    (tmp_path / "rules.yml").write_text(readme.block("alert-rules"))
    cases = [
        {"eval_time": "27h", "alertname": name, "exp_alerts": [_expected(by_name[name], labels)]}
        for name, labels in FIRING.items()
    ]
    spec = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "5m",
                "input_series": [{"series": s, "values": v} for s, v in SERIES],
                "alert_rule_test": cases,
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(spec))
    done = subprocess.run(
        [promtool(), "test", "rules", "test.yml"], capture_output=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0 and b"SUCCESS" in done.stdout, (done.stdout + done.stderr).decode()[-3000:]


def test_ci_unpacks_promtool_without_installing_the_server():
    ci = (Path(readme.REPO) / ".ci" / "run").read_text()
    assert re.search(r"apt-get download( -qq)? prometheus", ci) and "/usr/local/bin/promtool" in ci
    assert "apt-get install -y -qq prometheus" not in ci  # the server would start on a CI machine
