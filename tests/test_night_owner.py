"""One owner of a night (issue 27): a nightly reads each record file at most once, fresh or finished; its
plan is what `--dry-run` prints, and a dry run starts and writes nothing.

The nights are real: 2 seeds x 1 epoch on a small IDX set, trained on a local Ray by the nightly itself,
through the CLI in this process (so that the storage reads can be counted; the Ray workers' own reads of
their seed's files are not the driver's).
"""

import collections
import json
import shutil
from pathlib import Path

import pytest

from lenet_batch.store import record_reads, storage
from tests import helpers
from tests.probe_helpers import cli as probe_cli
from tests.sealed_helpers import nightly_in_process, tree_state

pytestmark = pytest.mark.slow

RECORDS = ("run.json", "summary.json", "metrics.json", "attempts.json", "latest.json", "_COMMITTED.json")
OUTPUT_RECORDS = ("_lock.json", "_last_success.json")


def counted_reads(monkeypatch) -> collections.Counter:
    """Every read of a record file (its URI) from now on, whichever way it is read."""
    reads: collections.Counter = collections.Counter()

    def note(uri: str) -> None:
        name = str(uri).rstrip("/").rsplit("/", 1)[-1]
        if name in RECORDS + OUTPUT_RECORDS or "/_writers/" in str(uri):
            reads[str(uri)] += 1

    real_many, real_bytes, real_json = record_reads.read_small_many, storage.read_bytes, storage.read_json

    def many(uris, *args, **kwargs):
        for uri in uris:
            note(uri)
        return real_many(uris, *args, **kwargs)

    def one(real):
        def read(uri, *args, **kwargs):
            note(uri)
            return real(uri, *args, **kwargs)

        return read

    monkeypatch.setattr(record_reads, "read_small_many", many)
    monkeypatch.setattr(storage, "read_bytes", one(real_bytes))
    monkeypatch.setattr(storage, "read_json", one(real_json))
    return reads


@pytest.fixture(scope="module")
def small_data(fashion_mnist, tmp_path_factory) -> str:
    data = tmp_path_factory.mktemp("owner-idx")
    helpers.write_dataset(data, fashion_mnist, n_train=3000, n_test=500)
    return str(data)


def args(output: Path, data: str, run_id: str) -> list[str]:
    return ["--output", str(output), "--data", data, "--no-verify", "--seeds", "0-1", "--epochs", "1",
            "--run-id", run_id]  # fmt: skip


@pytest.fixture(scope="module")
def first_night(small_data, tmp_path_factory) -> Path:
    """An output with one finished night, n1."""
    output = tmp_path_factory.mktemp("owner-out")
    code, _, err = nightly_in_process(args(output, small_data, "n1"))
    assert code == 0, err[-3000:]
    return output


def test_a_fresh_night_and_a_finished_one_read_each_record_at_most_once(
    first_night, small_data, tmp_path, monkeypatch
):
    output = tmp_path / "out"
    shutil.copytree(first_night, output)
    reads = counted_reads(monkeypatch)
    code, _, err = nightly_in_process([*args(output, small_data, "n2"), "--fail-on", "regressed"])  # fresh
    assert code == 0, err[-3000:]
    twice = {uri: n for uri, n in reads.items() if n > 1}
    assert not twice, twice
    assert any(uri.endswith("n1/summary/summary.json") for uri in reads)  # the baseline was read, once
    reads.clear()
    before = tree_state(output)
    finished = [*args(output, small_data, "n2"), "--fail-on", "regressed"]
    code, out, err = nightly_in_process(finished)  # finished: nothing to do
    assert code == 0 and "nothing to do" in out, err[-3000:]
    twice = {uri: n for uri, n in reads.items() if n > 1}
    assert not twice and tree_state(output) == before, twice


def test_the_dry_run_of_a_finished_night_skips_every_step_and_starts_nothing(first_night, small_data):
    before = tree_state(first_night)
    code, out, err, heavy = probe_cli("nightly", *args(first_night, small_data, "n1"), "--dry-run", "--json")
    assert code == 0, err[-3000:]
    steps = json.loads(out)
    assert {s["action"] for s in steps} == {"skip"} and heavy == [] and tree_state(first_night) == before
    assert [(s["stage"], s["seed"]) for s in steps] == [
        ("train", 0),
        ("train", 1),
        ("infer", 0),
        ("infer", 1),
        ("summary", None),
        ("history", None),
    ]
    assert all(set(s) == {"stage", "seed", "action", "from_epoch", "reason"} and s["reason"] for s in steps)


def test_the_dry_run_of_a_new_night_plans_every_stage_and_writes_nothing(small_data, tmp_path):
    output = tmp_path / "new"
    code, out, err, heavy = probe_cli("nightly", *args(output, small_data, "n9"), "--dry-run")
    assert code == 0, err[-3000:]
    lines = out.splitlines()
    assert lines[0].split() == ["stage", "seed", "action", "from_epoch", "reason"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["train", "0", "train"],
        ["train", "1", "train"],
        ["infer", "0", "score"],
        ["infer", "1", "score"],
        ["summary", "-", "summarise"],
        ["history", "-", "build"],
    ]
    assert heavy == [] and not output.exists()


@pytest.mark.parametrize(
    "extra, said",
    [
        (["--output", "memory://x"], "memory:// lives in this process's memory"),
        (["--gpus-per-seed", "1"], "--gpus-per-seed"),
        (["--epochs", "3"], "epochs recorded 1 (seeds [0, 1]), requested 3"),
    ],
    ids=["memory", "gpus", "another-recipe"],
)
def test_a_dry_run_refuses_what_the_run_would_refuse(first_night, small_data, extra, said):
    before = tree_state(first_night)
    for command in ("nightly", "train"):
        code, out, err, heavy = probe_cli(command, *args(first_night, small_data, "n1"), *extra, "--dry-run")
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and said in lines[0] and out == "", err[-3000:]
        probed = ["ray"] if "--gpus-per-seed" in extra else []  # Ray's own GPU probe: imported, not started
        assert heavy == probed and tree_state(first_night) == before
