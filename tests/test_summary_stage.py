"""The summary stage end to end on a local (or fsspec) output folder: its files, the gate, the pictures."""

import json
import logging
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lenet_batch.config import GateRule
from lenet_batch.errors import ConfigError, GateInconclusive, RegressionDetected
from lenet_batch.pipeline.hand_summary import summarise
from lenet_batch.pipeline.requests import SummaryRequest
from lenet_batch.store import run_record, storage
from lenet_batch.store.layout import Layout
from lenet_batch.store.run_record import RunRecord, SeedEntry, StageClock
from lenet_batch.summary import stage as summary_stage
from tests.pixels import read_png
from tests.report_helpers import N_SAMPLES, metrics_json, pictures, predictions_table


@pytest.fixture
def fake_predictions(monkeypatch) -> dict[str, pa.Table]:
    """Serve hand-made tables as the summary stage's predictions of each run."""
    tables: dict[str, pa.Table] = {}

    def read_predictions(layout, run_id, seeds=None, input_name=None, columns=None, parts=None):
        return tables[run_id]

    monkeypatch.setattr(summary_stage, "read_predictions", read_predictions)
    return tables


def make_run(layout: Layout, tables: dict, run_id: str, accuracy: float, seeds=(0, 1, 2), failed=()) -> None:
    """A trained and scored run: run.json with its train stage, metrics.json per seed, predictions."""
    run = layout.run(run_id)
    rows = [SeedEntry(s, "failed" if s in failed else "trained") for s in (0, 1, 2)]
    clock = StageClock.start()
    scored = [SeedEntry(s, "scored") for s in seeds]
    record = RunRecord(run_id, seeds=(0, 1, 2)).with_stage("train", clock.entry(rows))
    record = record.with_stage("infer", clock.entry(scored))
    run_record.write_record(run, record)
    for seed in seeds:
        storage.write_json_atomic(run.metrics_json(seed), metrics_json(seed))
    tables[run_id] = predictions_table(run_id, accuracy, seeds)


def test_summarize_run_writes_every_output(tmp_path, fake_predictions):
    layout = Layout(str(tmp_path))
    make_run(layout, fake_predictions, "2026-11-01", 0.8)
    doc = summarise(Layout(str(tmp_path)).run("2026-11-01"), images=pictures())
    folder = tmp_path / "runs" / "2026-11-01" / "summary"
    names = {
        "summary.parquet",
        "per_class.parquet",
        "summary.json",
        "report.md",
        "report.html",
        "training_curves.png",
        "seed_accuracy.png",
        "per_class_accuracy.png",
        "confusion_matrix.png",
        "disagreement.png",
        "train_images.png",
        "test_predictions.png",
        "per_seed.csv",
        "disagreement.parquet",
    }
    assert names <= {p.name for p in folder.iterdir()} and set(doc.files) == names
    assert doc.report_html == str(folder / "report.html")
    written = json.loads((folder / "summary.json").read_text())
    assert written["across_seeds"]["ci95"] == pytest.approx(doc.across_seeds.ci95.to_json())
    assert written["comparison"]["regressed"] is False and written["report_html"] == doc.report_html
    assert pq.read_table(folder / "summary.parquet").column("seed").to_pylist() == [0, 1, 2]
    assert pq.read_table(folder / "per_class.parquet").num_rows == 30
    text = (folder / "report.md").read_text()
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        read_png((folder / link).read_bytes())
    for link in re.findall(r"(?<!!)\[[^\]]*\]\(([^)]+)\)", text):  # the tables beside the report
        assert (folder / link).stat().st_size > 0
    stage = storage.read_json(layout.run("2026-11-01").run_json)["stages"]["summary"]
    assert stage["status"] == "complete" and stage["mean_accuracy"] == pytest.approx(doc.across_seeds.mean)


def test_gate_fails_after_writing_against_a_better_previous_run(tmp_path, fake_predictions):
    layout = Layout(str(tmp_path))
    make_run(layout, fake_predictions, "2026-11-01", 0.95)
    summarise(Layout(str(tmp_path)).run("2026-11-01"))
    make_run(layout, fake_predictions, "2026-11-02", 0.5)
    with pytest.raises(RegressionDetected) as caught:
        summarise(Layout(str(tmp_path)).run("2026-11-02"), baseline="previous")
    assert caught.value.exit_code == 4 and "2026-11-02" in str(caught.value)
    written = json.loads((tmp_path / "runs/2026-11-02/summary/summary.json").read_text())
    assert written["comparison"]["regressed"] and written["comparison"]["baseline_run_id"] == "2026-11-01"
    assert (tmp_path / "runs/2026-11-02/summary/report.html").exists()
    assert storage.read_json(layout.run("2026-11-02").run_json)["stages"]["summary"]["status"] == "regressed"
    # A regressed run is not a baseline: the next run is compared with the last good one (these three
    # noisy fake seeds a side cannot prove the same mean either: inconclusive, exit 8; 0 with --fail-on
    # regressed).
    make_run(layout, fake_predictions, "2026-11-03", 0.95)
    with pytest.raises(GateInconclusive) as caught:
        summarise(Layout(str(tmp_path)).run("2026-11-03"), baseline="previous")
    doc = caught.value.document
    assert doc.comparison.baseline_run_id == "2026-11-01" and doc.comparison.verdict == "inconclusive"
    lenient = SummaryRequest("previous", GateRule(), fail_on="regressed")
    assert summarise(Layout(str(tmp_path)).run("2026-11-03"), request=lenient).comparison == doc.comparison


def test_failed_seed_fails_the_gate_without_a_baseline(tmp_path, fake_predictions):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8, seeds=(0, 1), failed=(2,))
    with pytest.raises(RegressionDetected, match=r"seed\(s\) failed: \[2\]"):
        summarise(Layout(str(tmp_path)).run("r1"))


def test_missing_baseline_run_is_a_config_error(tmp_path, fake_predictions):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8)
    with pytest.raises(ConfigError, match="nope"):
        summarise(Layout(str(tmp_path)).run("r1"), baseline="nope")


def test_summarize_run_writes_through_fsspec(fake_predictions):
    output = "memory://lenet-report-test"
    make_run(Layout(output), fake_predictions, "r1", 0.8)
    doc = summarise(Layout(output).run("r1"))
    assert doc.report_html == "memory://lenet-report-test/runs/r1/summary/report.html"
    assert storage.read_bytes(doc.report_html).startswith(b"<!DOCTYPE html>")
    assert set(doc.files) <= set(storage.list_dir(Layout(output).run("r1").summary_dir))
    storage.remove(output, recursive=True)


def test_resummarising_without_images_drops_the_old_pictures(tmp_path, fake_predictions):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8)
    summarise(Layout(str(tmp_path)).run("r1"), images=pictures())
    # nothing new: the summary with its pictures is reused as it is; made again, it has none
    reused = summarise(Layout(str(tmp_path)).run("r1"))
    assert "train_images.png" in reused.files
    doc = summarise(Layout(str(tmp_path)).run("r1"), force=True)
    folder = tmp_path / "runs" / "r1" / "summary"
    assert not (folder / "train_images.png").exists() and not (folder / "test_predictions.png").exists()
    assert set(doc.files) == {p.name for p in folder.iterdir()}


def test_per_seed_csv_lists_every_seed_worst_first(tmp_path, fake_predictions):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8)
    doc = summarise(Layout(str(tmp_path)).run("r1"))
    rows = (tmp_path / "runs/r1/summary/per_seed.csv").read_text().splitlines()
    assert rows[0].startswith("run_id,seed,n_samples,test_accuracy")
    accuracies = [float(r.split(",")[3]) for r in rows[1:]]
    assert len(accuracies) == doc.n_seeds and accuracies == sorted(accuracies)
    pairs = pq.read_table(tmp_path / "runs/r1/summary/disagreement.parquet").to_pylist()
    assert [(p["seed_a"], p["seed_b"]) for p in pairs] == [(0, 1), (0, 2), (1, 2)]
    assert pairs[0]["disagreement"] == doc.disagreement.matrix[0][1]


def test_the_article_pictures_show_the_first_18_images_of_a_whole_split(tmp_path, fake_predictions, caplog):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8)
    with caplog.at_level(logging.WARNING, logger="lenet_batch"):
        summarise(Layout(str(tmp_path)).run("r1"), images=pictures(N_SAMPLES))
    folder = tmp_path / "runs" / "r1" / "summary"
    for name in ("train_images.png", "test_predictions.png"):
        assert read_png((folder / name).read_bytes()).shape[:2] == (350, 1080)  # 2 rows of 9
    assert "picture shows" not in caplog.text
