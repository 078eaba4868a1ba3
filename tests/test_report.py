"""Report figures and documents, and the summary stage end to end on a local output folder."""

import base64
import json
import logging
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lenet_batch.errors import ConfigError, RegressionDetected
from lenet_batch.store import run_record, storage
from lenet_batch.store.layout import Layout
from lenet_batch.store.seed_records import SeedMetrics
from lenet_batch.summary import figures as fig
from lenet_batch.summary import gate
from lenet_batch.summary import stage as summary_stage
from lenet_batch.summary import statistics as summary
from lenet_batch.summary.report_html import render_html
from lenet_batch.summary.report_md import render_markdown
from tests.pixels import CYCLE, colour_pixels, markers, read_png

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


def metrics_json(seed: int, epochs: int = 5) -> dict:
    """A metrics.json as training writes it."""
    rows = [
        {
            "epoch": e,
            "train_loss": 2.0 / e + 0.05 * seed,
            "train_accuracy": 0.9 - 0.3 / e,
            "test_accuracy": 0.88 - 0.3 / e,
            "seconds": 2.0,
        }
        for e in range(1, epochs + 1)
    ]
    return {
        "status": "complete",
        "run_id": "r",
        "seed": seed,
        "epochs": rows,
        "recipe": {},
        "test_accuracy": rows[-1]["test_accuracy"],
        "train_seconds": 2.0 * epochs,
        "model_sha256": "0" * 64,
    }


def metrics(seed: int, epochs: int = 5) -> SeedMetrics:
    """The same, as the summary reads it."""
    return SeedMetrics.from_json(metrics_json(seed, epochs), "metrics.json")


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
    doc["comparison"] = gate.compare(doc, None)
    return doc


def draw(name: str, doc: dict) -> bytes:
    """One figure of the report, drawn from the module's summary and pictures."""
    images = pictures()
    if name == "training_curves":
        return fig.training_curves_png({s: metrics(s) for s in (0, 1, 2)})
    if name == "seed_accuracy":
        return fig.seed_accuracy_png(doc["per_seed"], doc["across_seeds"], 0.85)
    if name == "per_class":
        return fig.per_class_png(doc["per_class"])
    if name == "confusion":
        return fig.confusion_png(doc["confusion_matrix"])
    if name == "train_images":
        return fig.train_images_png(images["train_images"], images["train_labels"])
    return fig.test_predictions_png(images["test_images"], images["test_labels"], np.zeros(20, int))


# (height, width) in pixels: the figure sizes in inches times fig.DPI
FIGURE_SIZES = {
    "training_curves": (400, 1000),
    "seed_accuracy": (400, 1000),
    "per_class": (400, 1000),
    "confusion": (600, 700),
    "train_images": (510, 840),  # 20 images: 3 rows of 7
    "test_predictions": (510, 840),
}


# What each figure must show, as the colours of its marks: (present, absent).
FIGURE_COLOURS = {
    "training_curves": (("C0", "C1", "C2"), ("C3",)),  # three seeds, three colours, no fourth
    "seed_accuracy": (("C0", "C2"), ("C1", "C3")),  # seeds and mean in C0, the ensemble line in C2
    "per_class": (("C0", "C2"), ("C1", "C3")),  # the means in C0, the ensemble marks in C2
}


@pytest.mark.parametrize("name", FIGURE_SIZES)
def test_figures_are_valid_pngs_of_the_expected_size(doc, name):
    pixels = read_png(draw(name, doc))
    assert pixels.shape[:2] == FIGURE_SIZES[name]


@pytest.mark.parametrize("name", FIGURE_COLOURS)
def test_per_seed_figures_draw_each_series_in_its_colour(doc, name):
    pixels = read_png(draw(name, doc))
    present, absent = FIGURE_COLOURS[name]
    for colour in present:
        assert colour_pixels(pixels, CYCLE[colour]) > 20, f"{name}: no {colour} marks"
    for colour in absent:
        assert colour_pixels(pixels, CYCLE[colour]) < 5, f"{name}: unexpected {colour} marks"


def test_seed_accuracy_figure_has_one_marker_per_seed(doc):
    pixels = read_png(draw("seed_accuracy", doc))
    # The markers are the solid C0 blobs above the 15%-alpha CI band, and the legend's sample marker.
    assert markers(pixels, CYCLE["C0"]) == doc["n_seeds"] + 1


def test_image_grids_show_the_pictures_where_the_labels_put_them():
    images = pictures()
    pixels = read_png(fig.train_images_png(images["train_images"], images["train_labels"]))
    gray = pixels[..., :3].mean(axis=-1)
    assert (gray > 0.95).mean() > 0.3 and (gray < 0.05).mean() > 0.05  # white page, black tiles


def test_one_seed_figures_and_report_render_without_std(tmp_path):
    one_result = summary.summarize(predictions_table("r1", 0.8, seeds=(4,)), {4: metrics(4)}, "r1")
    one = one_result.to_dict()
    one["comparison"] = gate.compare(one, None)
    figures = fig.build_figures(one, {4: metrics(4)}, one_result.disagreement_matrix)
    assert set(figures) == {  # no disagreement figure: one seed has no pairs
        "training_curves.png",
        "seed_accuracy.png",
        "per_class_accuracy.png",
        "confusion_matrix.png",
    }
    text = render_markdown(one, figures)
    assert "std and CI undefined with one seed" in text and "One seed: no pairs to compare." in text


def test_html_embeds_every_figure_as_a_decodable_data_uri(doc):
    matrix = np.array(doc["disagreement"]["matrix"])
    figures = fig.build_figures(
        doc, {0: metrics(0)}, matrix, images=pictures(), test_predictions=np.arange(18) % 10
    )
    assert list(figures) == list(fig.FIGURE_FILES)  # all seven, in the report's order
    page = render_html(doc, figures)
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(figures)
    for uri, figure in zip(sources, figures.values(), strict=True):
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1]) == figure.png
    # Nothing is fetched: the only links are to the tables written beside the report, and to anchors.
    hrefs = set(re.findall(r'href="([^"#]*)"', page)) - {"data:,"}
    assert hrefs == {"per_seed.csv", "summary.parquet", "disagreement.parquet"}
    assert f"{doc['across_seeds']['mean']:.4f}" in page and "Against the baseline" in page


def test_markdown_links_exactly_the_figure_files(doc):
    figures = fig.build_figures(doc, {s: metrics(s) for s in (0, 1, 2)})
    shown = {k: figures[k] for k in ("training_curves.png", "seed_accuracy.png")}
    text = render_markdown(doc, shown)
    assert re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text) == ["seed_accuracy.png", "training_curves.png"]
    assert "| seed | test accuracy |" in text and f"{doc['ensemble']['accuracy']:.4f}" in text


@pytest.fixture
def fake_predictions(monkeypatch) -> dict[str, pa.Table]:
    """Serve hand-made tables as the summary stage's predictions of each run."""
    tables: dict[str, pa.Table] = {}

    def read_predictions(layout, run_id, seeds=None):
        return tables[run_id]

    monkeypatch.setattr(summary_stage, "read_predictions", read_predictions)
    return tables


def make_run(layout: Layout, tables: dict, run_id: str, accuracy: float, seeds=(0, 1, 2), failed=()) -> None:
    """A trained and scored run: run.json with its train stage, metrics.json per seed, predictions."""
    run = layout.run(run_id)
    storage.write_json_atomic(run.run_json, {"run_id": run_id, "config": {"seeds": "0-2"}})
    rows = [{"seed": s, "status": "failed" if s in failed else "trained"} for s in (0, 1, 2)]
    run_record.update_stage(run, "train", rows)
    for seed in seeds:
        storage.write_json_atomic(run.metrics_json(seed), metrics_json(seed))
    tables[run_id] = predictions_table(run_id, accuracy, seeds)


def test_summarize_run_writes_every_output(tmp_path, fake_predictions):
    layout = Layout(str(tmp_path))
    make_run(layout, fake_predictions, "2026-11-01", 0.8)
    doc = summary_stage.summarize_run(Layout(str(tmp_path)).run("2026-11-01"), images=pictures())
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
    assert names <= {p.name for p in folder.iterdir()} and set(doc["files"]) == names
    assert doc["report_html"] == str(folder / "report.html")
    written = json.loads((folder / "summary.json").read_text())
    assert written["across_seeds"]["ci95"] == pytest.approx(doc["across_seeds"]["ci95"])
    assert written["comparison"]["regressed"] is False and written["report_html"] == doc["report_html"]
    assert pq.read_table(folder / "summary.parquet").column("seed").to_pylist() == [0, 1, 2]
    assert pq.read_table(folder / "per_class.parquet").num_rows == 30
    text = (folder / "report.md").read_text()
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        read_png((folder / link).read_bytes())
    for link in re.findall(r"(?<!!)\[[^\]]*\]\(([^)]+)\)", text):  # the tables beside the report
        assert (folder / link).stat().st_size > 0
    stage = run_record.read_run(layout.run("2026-11-01"))["stages"]["summary"]
    assert stage["status"] == "complete" and stage["mean_accuracy"] == pytest.approx(
        doc["across_seeds"]["mean"]
    )


def test_gate_fails_after_writing_against_a_better_previous_run(tmp_path, fake_predictions):
    layout = Layout(str(tmp_path))
    make_run(layout, fake_predictions, "2026-11-01", 0.95)
    summary_stage.summarize_run(Layout(str(tmp_path)).run("2026-11-01"))
    make_run(layout, fake_predictions, "2026-11-02", 0.5)
    with pytest.raises(RegressionDetected) as caught:
        summary_stage.summarize_run(Layout(str(tmp_path)).run("2026-11-02"), baseline="previous")
    assert caught.value.exit_code == 4 and "2026-11-02" in str(caught.value)
    written = json.loads((tmp_path / "runs/2026-11-02/summary/summary.json").read_text())
    assert written["comparison"]["regressed"] and written["comparison"]["baseline_run_id"] == "2026-11-01"
    assert (tmp_path / "runs/2026-11-02/summary/report.html").exists()
    assert run_record.read_run(layout.run("2026-11-02"))["stages"]["summary"]["status"] == "regressed"
    # A regressed run is not a baseline: the next run is compared with the last good one.
    make_run(layout, fake_predictions, "2026-11-03", 0.95)
    doc = summary_stage.summarize_run(Layout(str(tmp_path)).run("2026-11-03"), baseline="previous")
    assert doc["comparison"]["baseline_run_id"] == "2026-11-01" and not doc["comparison"]["regressed"]


def test_failed_seed_fails_the_gate_without_a_baseline(tmp_path, fake_predictions):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8, seeds=(0, 1), failed=(2,))
    with pytest.raises(RegressionDetected, match=r"seed\(s\) failed: \[2\]"):
        summary_stage.summarize_run(Layout(str(tmp_path)).run("r1"))


def test_missing_baseline_run_is_a_config_error(tmp_path, fake_predictions):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8)
    with pytest.raises(ConfigError, match="nope"):
        summary_stage.summarize_run(Layout(str(tmp_path)).run("r1"), baseline="nope")


def test_summarize_run_writes_through_fsspec(fake_predictions):
    output = "memory://lenet-report-test"
    make_run(Layout(output), fake_predictions, "r1", 0.8)
    doc = summary_stage.summarize_run(Layout(output).run("r1"))
    assert doc["report_html"] == "memory://lenet-report-test/runs/r1/summary/report.html"
    assert storage.read_bytes(doc["report_html"]).startswith(b"<!DOCTYPE html>")
    assert set(doc["files"]) <= set(storage.list_dir(Layout(output).run("r1").summary_dir))
    storage.remove(output, recursive=True)


def test_resummarising_without_images_drops_the_old_pictures(tmp_path, fake_predictions):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8)
    summary_stage.summarize_run(Layout(str(tmp_path)).run("r1"), images=pictures())
    doc = summary_stage.summarize_run(Layout(str(tmp_path)).run("r1"))
    folder = tmp_path / "runs" / "r1" / "summary"
    assert not (folder / "train_images.png").exists() and not (folder / "test_predictions.png").exists()
    assert set(doc["files"]) == {p.name for p in folder.iterdir()}


def html_and_markdown(doc: dict, figures: dict | None = None) -> tuple[str, str]:
    return render_html(doc, figures or {}), render_markdown(doc, figures or {})


def test_without_a_baseline_the_gate_is_not_applicable(doc):
    page, text = html_and_markdown(doc)
    assert '<span class="verdict na">gate: n/a (no baseline): ' in page
    assert "gate: n/a (no baseline)" in text and "passed" not in text


def test_failed_seeds_fail_the_gate_even_without_a_baseline(doc):
    failed = {**doc, "comparison": gate.compare({**doc, "failed_seeds": [2]}, None)}
    page, _ = html_and_markdown(failed)
    line = gate.gate_line(failed["comparison"])
    assert line.startswith("gate: REGRESSED") and "1 seed(s) failed: [2]" in line
    assert f'<span class="verdict regressed">{line}</span>' in page


def test_the_comparison_is_rendered_whatever_fields_it_has(doc):
    # A richer gate (e.g. a Welch test) adds metrics, columns, settings and its own verdict sentence.
    comparison = {
        **gate.compare(doc, {**doc, "run_id": "2026-11-26"}),
        "welch_t": {"current": 0.5, "baseline": 0.6, "delta": -0.1, "p_value": 0.00002},
        "test": "welch",
        "verdict": "passed",
        "sentence": "no drop beyond 0.01 at p < 0.05 against run 2026-11-26",
    }
    page, text = html_and_markdown({**doc, "comparison": comparison})
    assert '<span class="verdict passed">gate: passed — no drop beyond 0.01 at p &lt; 0.05' in page
    assert "<th>p_value</th>" in page and "2.00e-05" in page and "<td>test</td><td>welch</td>" in page
    assert (
        "Compared with run 2026-11-26." in text
        and "| welch t | 0.5000 | 0.6000 | -0.1000 | 2.00e-05 |" in text
    )


def test_the_headline_comes_first_then_the_verdict_then_the_seeds(doc):
    page = render_html(doc, {})
    order = [page.index(s) for s in ('class="lead"', 'class="verdict', 'id="baseline"', 'id="seeds"')]
    assert order == sorted(order)


def many_seeds_doc(n: int) -> dict:
    seeds = tuple(range(100, 100 + n))
    result = summary.summarize(predictions_table("r1", 0.8, seeds=seeds), {}, "r1").to_dict()
    return {**result, "comparison": gate.compare(result, None)}


def test_per_seed_table_is_worst_first_and_folds_past_20_rows():
    doc = many_seeds_doc(25)
    page, text = html_and_markdown(doc)
    worst_first = [r["seed"] for r in sorted(doc["per_seed"], key=lambda r: (r["test_accuracy"], r["seed"]))]
    section = page[page.index('<section id="seeds">') : page.index('<section id="classes">')]
    shown, folded = section.split("<details>")
    seeds_in = [
        [int(s) for s in re.findall(r"<tr><td class=\"num\">(\d+)</td>", part)] for part in (shown, folded)
    ]
    assert seeds_in == [worst_first[:20], worst_first[20:]]
    assert "show the other 5 seeds" in folded and 'href="per_seed.csv"' in section
    rows = re.findall(r"^\| (\d+) \|", text, flags=re.M)
    assert [int(s) for s in rows] == worst_first[:20]
    assert (
        "*5 more seeds not shown here: [all seeds as CSV](per_seed.csv), [Parquet](summary.parquet).*" in text
    )


def test_a_short_table_does_not_fold(doc):
    page = render_html(doc, {})
    assert "<details>" not in page and "Full list beside this report" in page


def test_per_seed_csv_lists_every_seed_worst_first(tmp_path, fake_predictions):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8)
    doc = summary_stage.summarize_run(Layout(str(tmp_path)).run("r1"))
    rows = (tmp_path / "runs/r1/summary/per_seed.csv").read_text().splitlines()
    assert rows[0].startswith("run_id,seed,n_samples,test_accuracy")
    accuracies = [float(r.split(",")[3]) for r in rows[1:]]
    assert len(accuracies) == doc["n_seeds"] and accuracies == sorted(accuracies)
    pairs = pq.read_table(tmp_path / "runs/r1/summary/disagreement.parquet").to_pylist()
    assert [(p["seed_a"], p["seed_b"]) for p in pairs] == [(0, 1), (0, 2), (1, 2)]
    assert pairs[0]["disagreement"] == doc["disagreement"]["matrix"][0][1]


def test_the_article_pictures_show_the_first_18_images_of_a_whole_split(tmp_path, fake_predictions, caplog):
    make_run(Layout(str(tmp_path)), fake_predictions, "r1", 0.8)
    with caplog.at_level(logging.WARNING, logger="lenet_batch"):
        summary_stage.summarize_run(Layout(str(tmp_path)).run("r1"), images=pictures(N_SAMPLES))
    folder = tmp_path / "runs" / "r1" / "summary"
    for name in ("train_images.png", "test_predictions.png"):
        assert read_png((folder / name).read_bytes()).shape[:2] == (350, 1080)  # 2 rows of 9
    assert "picture shows" not in caplog.text
