"""Report figures and documents, and the summary stage end to end on a local output folder."""

import base64
import importlib
import io
import json
import re
import sys
import types

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from matplotlib import image as mpimg

import lenet_batch
from lenet_batch import report, run_record, storage, summary, summary_stage
from lenet_batch.errors import ConfigError, RegressionDetected
from lenet_batch.storage import Layout

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_SAMPLES = 120


def predictions_table(run_id: str, accuracy: float, seeds=(0, 1, 2), n=N_SAMPLES) -> pa.Table:
    """Random predictions right on about `accuracy` of n samples per seed, in the infer stage's schema."""
    rng = np.random.default_rng(len(run_id) + int(accuracy * 1000))
    labels = np.arange(n) % 10
    columns: dict[str, list] = {k: [] for k in ("seed", "sample_id", "label", "prediction", "probabilities")}
    for seed in seeds:
        wrong = rng.random(n) > accuracy
        prediction = np.where(wrong, (labels + 1 + rng.integers(0, 9, n)) % 10, labels)
        probs = rng.dirichlet(np.ones(10), n) * 0.3
        probs[np.arange(n), prediction] += 0.7
        columns["seed"] += [seed] * n
        columns["sample_id"] += list(range(n))
        columns["label"] += labels.tolist()
        columns["prediction"] += prediction.tolist()
        columns["probabilities"] += probs.astype(np.float32).tolist()
    table = pa.table(
        {
            "run_id": pa.array([run_id] * len(columns["seed"])),
            "seed": pa.array(columns["seed"], pa.int64()),
            "sample_id": pa.array(columns["sample_id"], pa.int64()),
            "label": pa.array(columns["label"], pa.int32()),
            "prediction": pa.array(columns["prediction"], pa.int32()),
            "probabilities": pa.array(columns["probabilities"], pa.list_(pa.float32())),
        }
    )
    return table.append_column("correct", pc.equal(table["label"], table["prediction"]))


def metrics(seed: int, epochs: int = 5) -> dict:
    """A metrics.json as training writes it."""
    rows = [{"epoch": e, "train_loss": 2.0 / e + 0.05 * seed, "train_accuracy": 0.9 - 0.3 / e,
             "test_accuracy": 0.88 - 0.3 / e, "seconds": 2.0} for e in range(1, epochs + 1)]  # fmt: skip
    return {"status": "complete", "seed": seed, "epochs": rows, "test_accuracy": rows[-1]["test_accuracy"],
            "train_seconds": 2.0 * epochs}  # fmt: skip


def pictures(n: int = 20) -> dict[str, np.ndarray]:
    """uint8 images with a bright square whose place depends on the label."""
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for k, c in enumerate(labels):
        images[k, 2 + 2 * c : 8 + 2 * c, 4:24] = 255
    return {"train_images": images, "train_labels": labels, "test_images": images, "test_labels": labels}


@pytest.fixture(scope="module")
def doc() -> dict:
    result = summary.summarize(predictions_table("r1", 0.8), {s: metrics(s) for s in (0, 1, 2)}, "r1")
    doc = result.to_dict()
    doc["comparison"] = summary.compare(doc, None, 0.01)
    return doc


def read_png(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_SIGNATURE)
    return mpimg.imread(io.BytesIO(png), format="png")


def draw(name: str, doc: dict) -> bytes:
    """One figure of the report, drawn from the module's summary and pictures."""
    images = pictures()
    if name == "training_curves":
        return report.training_curves_png({s: metrics(s) for s in (0, 1, 2)})
    if name == "seed_accuracy":
        return report.seed_accuracy_png(doc["per_seed"], doc["across_seeds"], 0.85)
    if name == "per_class":
        return report.per_class_png(doc["per_class"])
    if name == "confusion":
        return report.confusion_png(doc["confusion_matrix"])
    if name == "train_images":
        return report.train_images_png(images["train_images"], images["train_labels"])
    return report.test_predictions_png(images["test_images"], images["test_labels"], np.zeros(20, int))


# (height, width) in pixels: the figure sizes in inches times report.DPI
FIGURE_SIZES = {
    "training_curves": (400, 1000),
    "seed_accuracy": (400, 1000),
    "per_class": (400, 1000),
    "confusion": (600, 700),
    "train_images": (320, 1080),
    "test_predictions": (320, 1080),
}


@pytest.mark.parametrize("name", FIGURE_SIZES)
def test_figures_are_valid_non_blank_pngs_of_the_expected_size(doc, name):
    pixels = read_png(draw(name, doc))
    assert pixels.shape[:2] == FIGURE_SIZES[name]
    assert pixels[..., :3].std() > 0.01


def test_one_seed_figures_and_report_render_without_std(tmp_path):
    one = summary.summarize(predictions_table("r1", 0.8, seeds=(4,)), {4: metrics(4)}, "r1").to_dict()
    one["comparison"] = summary.compare(one, None, 0.01)
    figures = report.build_figures(one, {4: metrics(4)})
    assert set(figures) == {"training_curves.png", "seed_accuracy.png", "per_class_accuracy.png",
                            "confusion_matrix.png"}  # fmt: skip
    assert "std and CI undefined with one seed" in report.render_markdown(one, list(figures))


def test_html_embeds_every_figure_as_a_decodable_data_uri(doc):
    figures = report.build_figures(doc, {0: metrics(0)}, pictures(), np.arange(18) % 10)
    assert len(figures) == 6
    page = report.render_html(doc, figures)
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert len(sources) == len(figures)
    for uri in sources:
        assert uri.startswith("data:image/png;base64,")
        read_png(base64.b64decode(uri.split(",", 1)[1]))
    assert f"{doc['across_seeds']['mean']:.4f}" in page and "Baseline comparison" in page


def test_markdown_links_exactly_the_figure_files(doc):
    text = report.render_markdown(doc, ["training_curves.png", "seed_accuracy.png"])
    assert re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text) == ["training_curves.png", "seed_accuracy.png"]
    assert "| seed | test accuracy |" in text and f"{doc['ensemble']['accuracy']:.4f}" in text


@pytest.fixture
def fake_predictions(monkeypatch) -> dict[str, pa.Table]:
    """Serve hand-made tables from predict.read_predictions, whether or not predict.py exists yet."""
    tables: dict[str, pa.Table] = {}
    try:
        module = importlib.import_module("lenet_batch.predict")
    except ImportError:
        module = types.ModuleType("lenet_batch.predict")
        monkeypatch.setitem(sys.modules, "lenet_batch.predict", module)
        monkeypatch.setattr(lenet_batch, "predict", module, raising=False)

    def read_predictions(layout, run_id, options, seeds=None):
        return tables[run_id]

    monkeypatch.setattr(module, "read_predictions", read_predictions, raising=False)
    return tables


def make_run(layout: Layout, tables: dict, run_id: str, accuracy: float, seeds=(0, 1, 2), failed=()) -> None:
    """A trained and scored run: run.json with its train stage, metrics.json per seed, predictions."""
    storage.write_json_atomic(layout.run_json(run_id), {"run_id": run_id, "config": {"seeds": "0-2"}})
    rows = [{"seed": s, "status": "failed" if s in failed else "trained"} for s in (0, 1, 2)]
    run_record.update_stage(layout, run_id, "train", rows, None)
    for seed in seeds:
        storage.write_json_atomic(layout.metrics_json(run_id, seed), metrics(seed))
    tables[run_id] = predictions_table(run_id, accuracy, seeds)


def test_summarize_run_writes_every_output(tmp_path, fake_predictions):
    layout = Layout(str(tmp_path))
    make_run(layout, fake_predictions, "2026-11-01", 0.8)
    doc = summary_stage.summarize_run(str(tmp_path), "2026-11-01", images=pictures())
    folder = tmp_path / "runs" / "2026-11-01" / "summary"
    names = {"summary.parquet", "per_class.parquet", "summary.json", "report.md", "report.html",
             "training_curves.png", "seed_accuracy.png", "per_class_accuracy.png", "confusion_matrix.png",
             "train_images.png", "test_predictions.png"}  # fmt: skip
    assert names <= {p.name for p in folder.iterdir()} and set(doc["files"]) == names
    assert doc["report_html"] == str(folder / "report.html")
    written = json.loads((folder / "summary.json").read_text())
    assert written["across_seeds"]["ci95"] == pytest.approx(doc["across_seeds"]["ci95"])
    assert written["comparison"]["regressed"] is False and written["report_html"] == doc["report_html"]
    assert pq.read_table(folder / "summary.parquet").column("seed").to_pylist() == [0, 1, 2]
    assert pq.read_table(folder / "per_class.parquet").num_rows == 30
    for link in re.findall(r"\]\(([^)]+)\)", (folder / "report.md").read_text()):
        read_png((folder / link).read_bytes())
    stage = run_record.read_run(layout, "2026-11-01", None)["stages"]["summary"]
    assert stage["status"] == "complete" and stage["mean_accuracy"] == pytest.approx(
        doc["across_seeds"]["mean"]
    )


def test_gate_fails_after_writing_against_a_better_previous_run(tmp_path, fake_predictions):
    layout = Layout(str(tmp_path))
    make_run(layout, fake_predictions, "2026-11-01", 0.95)
    summary_stage.summarize_run(str(tmp_path), "2026-11-01")
    make_run(layout, fake_predictions, "2026-11-02", 0.5)
    with pytest.raises(RegressionDetected) as caught:
        summary_stage.summarize_run(str(tmp_path), "2026-11-02", baseline="previous", max_drop=0.01)
    assert caught.value.exit_code == 4 and "2026-11-02" in str(caught.value)
    written = json.loads((tmp_path / "runs/2026-11-02/summary/summary.json").read_text())
    assert written["comparison"]["regressed"] and written["comparison"]["baseline_run_id"] == "2026-11-01"
    assert (tmp_path / "runs/2026-11-02/summary/report.html").exists()
    assert run_record.read_run(layout, "2026-11-02", None)["stages"]["summary"]["status"] == "regressed"
    # A regressed run is not a baseline: the next run is compared with the last good one.
    make_run(layout, fake_predictions, "2026-11-03", 0.95)
    doc = summary_stage.summarize_run(str(tmp_path), "2026-11-03", baseline="previous")
    assert doc["comparison"]["baseline_run_id"] == "2026-11-01" and not doc["comparison"]["regressed"]


def test_failed_seed_fails_the_gate_without_a_baseline(tmp_path, fake_predictions):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8, seeds=(0, 1), failed=(2,))
    with pytest.raises(RegressionDetected, match=r"seed\(s\) failed: \[2\]"):
        summary_stage.summarize_run(str(tmp_path), "r1")


def test_missing_baseline_run_is_a_config_error(tmp_path, fake_predictions):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8)
    with pytest.raises(ConfigError, match="nope"):
        summary_stage.summarize_run(str(tmp_path), "r1", baseline="nope")


def test_summarize_run_writes_through_fsspec(fake_predictions):
    output = "memory://lenet-report-test"
    make_run(Layout(output), fake_predictions, "r1", 0.8)
    doc = summary_stage.summarize_run(output, "r1")
    assert doc["report_html"] == "memory://lenet-report-test/runs/r1/summary/report.html"
    assert storage.read_bytes(doc["report_html"]).startswith(b"<!DOCTYPE html>")
    assert set(doc["files"]) <= set(storage.list_dir(Layout(output).summary_dir("r1")))
    storage.remove(output, recursive=True)


def test_resummarising_without_images_drops_the_old_pictures(tmp_path, fake_predictions):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8)
    summary_stage.summarize_run(str(tmp_path), "r1", images=pictures())
    doc = summary_stage.summarize_run(str(tmp_path), "r1")
    folder = tmp_path / "runs" / "r1" / "summary"
    assert not (folder / "train_images.png").exists() and not (folder / "test_predictions.png").exists()
    assert set(doc["files"]) == {p.name for p in folder.iterdir()}
