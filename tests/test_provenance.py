"""Provenance: the git commit (never failing), stage start and wall times in run.json, and the report's
run metadata (recipe, seeds, digests, versions, commit, stage times, hosts and attempts)."""

import contextlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lenet_batch import provenance
from lenet_batch.config import Settings
from lenet_batch.errors import RegressionDetected
from lenet_batch.pipeline import stages
from lenet_batch.pipeline.hand_summary import summarise
from lenet_batch.records import DataInfo
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from lenet_batch.store.seed_records import ScoreResult, TrainResult
from lenet_batch.summary import stage as summary_stage
from tests import synthetic_runs as syn
from tests.helpers import REPO

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@needs_git
def test_git_commit_of_this_checkout():
    found = provenance.git_commit()
    assert found is not None and found["commit"] == git(REPO, "rev-parse", "HEAD")
    assert isinstance(found["dirty"], bool)


@needs_git
def test_git_commit_says_whether_the_tree_was_dirty(tmp_path):
    package = tmp_path / "lenet_batch"
    package.mkdir()
    (package / "__init__.py").write_text("")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "one")
    assert provenance.git_commit(package) == {"commit": git(tmp_path, "rev-parse", "HEAD"), "dirty": False}
    (package / "__init__.py").write_text("changed = True\n")
    assert provenance.git_commit(package)["dirty"] is True


@needs_git
def test_no_commit_for_a_copy_inside_another_repository(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "site-packages" / "lenet_batch").mkdir(parents=True)
    assert provenance.git_commit(tmp_path / "site-packages" / "lenet_batch") is None


@pytest.mark.parametrize(
    "case",
    ["outside a checkout", "no git binary", "git fails", "git hangs"],
)
def test_git_commit_never_fails(case, tmp_path, monkeypatch):
    package = tmp_path / "lenet_batch"
    package.mkdir()
    if case == "no git binary":
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        package = provenance.PACKAGE_DIR
    elif case == "git fails":
        fake = tmp_path / "bin"
        fake.mkdir()
        (fake / "git").write_text("#!/bin/sh\necho broken >&2\nexit 128\n")
        (fake / "git").chmod(0o755)
        monkeypatch.setenv("PATH", str(fake))
        package = provenance.PACKAGE_DIR
    elif case == "git hangs":

        def hang(*args, **kwargs):
            raise subprocess.TimeoutExpired("git", provenance.GIT_TIMEOUT_SECONDS)

        monkeypatch.setattr(provenance.subprocess, "run", hang)
        package = provenance.PACKAGE_DIR
    assert provenance.git_commit(package) is None


def test_git_dir_in_the_environment_does_not_redirect_the_lookup(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_DIR", str(tmp_path))  # an empty folder: git would fail if it used it
    if GIT is None:
        pytest.skip("git is not installed")
    assert provenance.git_commit() is not None


class StubDataset:
    """What the train and infer stages ask of a dataset, without loading one."""

    def info(self) -> DataInfo:
        return DataInfo("stub", {"train-images-idx3-ubyte": "cd" * 32})


def test_train_and_infer_stages_record_their_start_and_wall_seconds(tmp_path, monkeypatch):
    from lenet_batch.cluster import train_tasks
    from lenet_batch.config import Recipe
    from lenet_batch.data.inputs import ImageSource
    from lenet_batch.pipeline import infer_work
    from lenet_batch.pipeline.owner import RunOwner
    from lenet_batch.pipeline.plan import Request, plan
    from lenet_batch.pipeline.requests import InferRequest, TrainRequest
    from lenet_batch.state.run_state import read_state
    from lenet_batch.store.seed_records import EpochMetrics, SeedMetrics

    metrics = SeedMetrics("r1", 0, Recipe(), (EpochMetrics(1, 0.5, 0.8, 0.8, 1.0),), "m" * 64)

    def slow_train(run, seeds, **_):
        time.sleep(1.0)
        return [TrainResult(0, "trained", 0.8, 1.0, 1, metrics=metrics)]

    # No cluster: the stages' own bookkeeping around it is what is timed.
    monkeypatch.setattr(stages, "_cluster_while_loading", lambda *a: contextlib.nullcontext(a[2]))
    monkeypatch.setattr(train_tasks, "train_seeds", slow_train)
    monkeypatch.setattr(infer_work, "score", lambda *a: [ScoreResult(0, "scored", 10, 0.8, 0.1)])
    settings = Settings(output=str(tmp_path), run_id="r1", seeds="0")
    run = settings.run_ref()
    owner = RunOwner(read_state(run))
    trained = plan(owner.state, Request(("train",), (0,), Recipe()))
    stages.train(owner, trained, TrainRequest.of(settings), StubDataset())
    scored = plan(owner.state, Request(("infer",), (0,), test_split="x"))
    stages.infer(owner, scored, InferRequest.of(settings, [0]), ImageSource(digest="x"), StubDataset())
    record = storage.read_json(run.run_json)
    train, infer = record["stages"]["train"], record["stages"]["infer"]
    assert train["seconds"] >= 1.0 and 0 <= infer["seconds"] < train["seconds"]
    for entry in (train, infer):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["started_at"])
        assert entry["started_at"] <= entry["finished_at"]
    assert record.get("git") == provenance.git_commit()  # recorded at the run's start
    assert record["versions"]["lenet_batch"] and record["data"]["source"] == "stub"


@pytest.fixture
def metadata_run(tmp_path, monkeypatch):
    """Seeds 0-3 trained and scored (seed 3 in two attempts), seed 4 failed after three attempts."""
    run = Layout(str(tmp_path)).run("r1")
    syn.write_records(run, range(4), epochs=2)
    record = storage.read_json(run.run_json)
    record["config"]["seeds"] = "0-4"
    storage.write_json_atomic(run.run_json, record)
    tries = [
        {"attempt": k, "host": "node-c", "pid": k, "started_at": "2026-11-28T02:00:00Z"} for k in (1, 2, 3)
    ]
    storage.write_json_atomic(run.attempts_json(4), tries)
    table = syn.predictions_table("r1", range(4), 200)
    monkeypatch.setattr(summary_stage, "read_predictions", lambda layout, run_id, **_: table)
    with pytest.raises(RegressionDetected, match=r"1 seed\(s\) failed: \[4\]"):
        summarise(run)
    return run, Path(run.summary_dir)


def test_report_has_a_run_metadata_section(metadata_run):
    _, folder = metadata_run
    page = (folder / "report.html").read_text()
    metadata = page[page.index('<section id="metadata">') :]
    for expected in (
        "Seeds: 0-3",
        "git commit 0123456789abcdef0123456789abcdef01234567, clean tree",
        "<td>lr</td>",
        "<td>input normalisation</td><td>Normalize(mean=0.13, std=0.31)</td>",  # not read as accuracies
        "ab" * 32,  # the data digest
        "<td>ray</td>",
        "2.60.0",
        "<td>train</td>",
        '<td class="num">9 min 0 s</td>',  # the stages' wall times (540 s, 61.5 s) in the unit that reads
        '<td class="num">1 min 2 s</td>',
        "writing this report",
        "node-a",
        "node-c",
        "1 seed(s) needed more than one attempt: 3",
    ):
        assert expected in metadata, expected
    failed = re.search(r"<caption>Failed seeds</caption>.*?</table>", metadata).group(0)
    assert '<td class="num">4</td><td class="num">3</td><td>node-c</td>' in failed
    assert "<td>mean</td>" not in metadata and "0.1300" not in metadata
    assert "## Run metadata" in (folder / "report.md").read_text()


def test_summary_json_and_run_json_carry_the_same_metadata(metadata_run):
    run, folder = metadata_run
    meta = json.loads((folder / "summary.json").read_text())["run_metadata"]
    assert meta["git"]["commit"].startswith("0123456789abcdef") and meta["seeds"] == "0-3"
    assert meta["retried_seeds"] == [3] and meta["hosts"] == {"node-a": 3, "node-b": 2, "node-c": 1}
    assert [s["stage"] for s in meta["stages"]] == ["train", "infer", "summary"]
    assert meta["failed_seed_attempts"] == [{"seed": 4, "attempts": 3, "hosts": "node-c"}]
    stage = storage.read_json(run.run_json)["stages"]["summary"]
    assert stage["seconds"] >= 0 and stage["started_at"] <= stage["finished_at"]
    assert {r["seed"]: (r["attempts"], r["hosts"]) for r in stage["seeds"]} == {
        0: (1, "node-a"),
        1: (1, "node-b"),
        2: (1, "node-a"),
        3: (2, "node-b, node-a"),
    }
