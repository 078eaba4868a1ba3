"""Real nightlies watched from outside: smoke-sized data, the webhook, the metrics file and `check`.

Two nights of 2 seeds x 1 epoch on a 2,000/500-image subset, on the session's Ray cluster: the first good
(the hook told with --notify-on always), the second regressed (--lr 0.05) with a hook that answers 500,
which leaves its exit code 4.
"""

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import helpers
from tests.hook_server import hook_server

pytestmark = pytest.mark.slow


def gauges(path) -> dict[tuple, float]:
    """(family, sorted labels) -> value, read with prometheus_client's parser."""
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def state_of(path, family: str) -> str:
    """The label `state` of the family's sample that is 1."""
    (state,) = [
        dict(labels)["state"] for (name, labels), v in gauges(path).items() if name == family and v == 1
    ]
    return state


def test_smoke_nights_tell_the_hook_and_the_metrics_file_and_check_reads_them(
    ray_cluster, small_data_dir, tmp_path
):
    out, prom = tmp_path / "out", tmp_path / "textfile" / "lenet_batch.prom"
    night = (
        *("nightly", "--output", str(out), "--data", small_data_dir, "--no-verify", "--seeds", "0-1"),
        *("--epochs", "1", "--train-limit", "2000", "--test-limit", "500", "--address", ray_cluster.address),
        *("--metrics-file", str(prom), "--notify-timeout", "5"),
    )
    with hook_server() as hook:
        first = helpers.run_cli(
            *night, "--run-id", "n1", "--notify", hook.url, "--notify-on", "always", env=ray_cluster.env()
        )
    assert first.returncode == 0, first.stderr[-3000:]
    (told,) = hook.received
    assert (told["run_id"], told["state"], told["exit_code"]) == ("n1", "ok", 0)
    assert told["report"] == str(out / "runs" / "n1" / "summary" / "report.html")
    assert told["text"].startswith("lenet-batch night n1: OK (exit 0)\nrun n1: 2 seeds, mean test accuracy")
    assert state_of(prom, "lenet_batch_health") == "healthy"

    # The subset is the run's recorded data: 500 test images scored per seed, the limits in run.json.
    record = json.loads((out / "runs" / "n1" / "run.json").read_text())
    assert (record["data"]["train_limit"], record["data"]["test_limit"]) == (2000, 500)
    assert "secret" not in json.dumps(record["config"]) and record["config"]["notify"].endswith("/…")
    summary = json.loads((out / "runs" / "n1" / "summary" / "summary.json").read_text())
    assert summary["ensemble"]["n_samples"] == 500
    other = ("infer", "--run", "n1", "--output", str(out), "--data", small_data_dir, "--no-verify")
    refused = helpers.run_cli(*other, "--test-limit", "1000")
    assert refused.returncode == 2 and "evaluated on --test-limit 500" in refused.stderr

    with hook_server("error") as hook:
        second = helpers.run_cli(
            *night,
            "--run-id",
            "n2",
            "--lr",
            "0.05",  # half: both seeds still learn (at 0.0001 one stays below chance + 2 points: diverged)
            "--gate",
            "threshold",
            "--notify",
            hook.url,
            env=ray_cluster.env(),
        )
    assert second.returncode == 4, second.stderr[-3000:]  # the hook's 500 changes nothing
    assert len(hook.received) == 2 and hook.received[0]["state"] == "regressed"  # one retry
    lr = [{"key": "lr", "baseline": "0.1", "current": "0.05"}]  # what the gate recorded, and nothing else
    told = hook.received[0]
    assert told["changes"] == "lr 0.1 → 0.05" and "changed since n1: lr 0.1 → 0.05" in told["text"]
    assert "not delivered" in second.stderr and "secret-token" not in second.stderr
    assert state_of(prom, "lenet_batch_health") == "regressed"
    assert gauges(prom)[("lenet_batch_regressed", (("output", str(out)), ("run_id", "n2")))] == 1
    labels = {"output": str(out), "run_id": "n2", "baseline_run_id": "n1", "key": "lr"}
    assert gauges(prom)[("lenet_batch_change_info", tuple(sorted({**labels, **lr[0]}.items())))] == 1

    check = helpers.run_cli("check", "--output", str(out), "--json")
    assert check.returncode == 4, check.stderr
    doc = json.loads(check.stdout)
    assert doc["night"]["run_id"] == "n2" and doc["last_success"]["run_id"] == "n1"
    assert [s["stage"] for s in doc["night"]["stages"]] == ["train", "infer", "summary", "history"]
    assert (doc["night"]["changes"], doc["night"]["changed"]) == ("lr 0.1 → 0.05", lr)
    line = helpers.run_cli("check", "--output", str(out), "-q").stdout
    assert line.startswith("regressed: run n2: gate: REGRESSED against n1: mean ")
    assert "; changed since n1: lr 0.1 → 0.05; last success: " in line
