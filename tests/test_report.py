"""Report figures and documents: pixels of every figure, the HTML and Markdown, what they say first."""

import base64
import re
from dataclasses import replace

import numpy as np
import pytest

from lenet_batch import pages
from lenet_batch.config import GateRule
from lenet_batch.summary import figures as fig
from lenet_batch.summary import gate
from lenet_batch.summary.report import duration_text
from lenet_batch.summary.report_metadata import recipe_rows
from lenet_batch.summary.report_render import render_html, render_markdown
from lenet_batch.summary.statistics import compute_statistics
from lenet_batch.summary.types import RunSummary
from tests.pixels import CYCLE, colour_pixels, markers, read_png
from tests.report_helpers import metrics, pictures, predictions_table


@pytest.fixture(scope="module")
def doc() -> RunSummary:
    result = compute_statistics(predictions_table("r1", 0.8), {s: metrics(s) for s in (0, 1, 2)}, "r1")
    return replace(result.summary, comparison=gate.compare(result.summary, None))


def draw(name: str, doc: RunSummary) -> bytes:
    """One figure of the report, drawn from the module's summary and pictures."""
    images = pictures()
    if name == "training_curves":
        return fig.training_curves_png({s: metrics(s) for s in (0, 1, 2)})
    if name == "seed_accuracy":
        return fig.seed_accuracy_png(doc.per_seed, doc.across_seeds, 0.85)
    if name == "per_class":
        return fig.per_class_png(doc.per_class)
    if name == "confusion":
        return fig.confusion_png(doc.confusion_matrix)
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
    assert markers(pixels, CYCLE["C0"]) == doc.n_seeds + 1


def test_image_grids_show_the_pictures_where_the_labels_put_them():
    images = pictures()
    pixels = read_png(fig.train_images_png(images["train_images"], images["train_labels"]))
    gray = pixels[..., :3].mean(axis=-1)
    assert (gray > 0.95).mean() > 0.3 and (gray < 0.05).mean() > 0.05  # white page, black tiles


def test_one_seed_figures_and_report_render_without_std(tmp_path):
    one_result = compute_statistics(predictions_table("r1", 0.8, seeds=(4,)), {4: metrics(4)}, "r1")
    one = replace(one_result.summary, comparison=gate.compare(one_result.summary, None))
    figures = fig.draw_run_figures(one, {4: metrics(4)}, one_result.disagreement_matrix)
    assert set(figures) == {  # no disagreement figure: one seed has no pairs
        "training_curves.png",
        "seed_accuracy.png",
        "per_class_accuracy.png",
        "confusion_matrix.png",
    }
    text = render_markdown(one, figures)
    assert "std undefined with one seed, too few seeds for an interval" in text
    assert "One seed: no pairs to compare." in text


def test_html_embeds_every_figure_as_a_decodable_data_uri(doc):
    matrix = np.array(doc.disagreement.matrix)
    figures = fig.draw_run_figures(
        doc, {0: metrics(0)}, matrix, images=pictures(), test_predictions=np.arange(18) % 10
    )
    assert list(figures) == list(fig.FIGURE_FILES)  # all seven, in the report's order
    page = render_html(doc, figures)
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(figures)
    for uri, figure in zip(sources, figures.values(), strict=True):
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1]) == figure.png
    # Nothing is fetched: the only links are to the tables and figures written beside the report (each
    # figure opens its PNG at full size), to anchors, and to the history page of the output (no baseline
    # here, so no baseline report).
    hrefs = set(re.findall(r'href="([^"#]*)"', page)) - {"data:,"}
    assert hrefs == {
        "per_seed.csv",
        "summary.parquet",
        "disagreement.parquet",
        "../../../history/history.html",
        *figures,
    }
    assert f"{doc.across_seeds.mean:.4f}" in page and "Against the baseline" in page


def test_markdown_links_exactly_the_figure_files(doc):
    figures = fig.draw_run_figures(doc, {s: metrics(s) for s in (0, 1, 2)})
    shown = {k: figures[k] for k in ("training_curves.png", "seed_accuracy.png")}
    text = render_markdown(doc, shown)
    assert re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text) == ["seed_accuracy.png", "training_curves.png"]
    assert "| seed | test accuracy |" in text and f"{doc.ensemble.accuracy:.4f}" in text


def html_and_markdown(doc: RunSummary, figures: dict | None = None) -> tuple[str, str]:
    return render_html(doc, figures or {}), render_markdown(doc, figures or {})


# The verdict as a chip (its word, its colour class), the gate's sentence one click away in <details>.
VERDICT = re.compile(
    r'<details class="gate"><summary>gate: <span class="verdict chip" data-tone="(\w+)">([^<]*)</span>'
    r"</summary><p>([^<]*)</p></details>"
)


def test_without_a_baseline_the_gate_is_not_applicable(doc):
    page, text = html_and_markdown(doc)
    tone, word, sentence = VERDICT.search(page).groups()
    assert (tone, word) == ("neutral", "n/a") and sentence.startswith("gate: n/a (no baseline): ")
    assert "gate: n/a (no baseline)" in text and "passed" not in text


def test_failed_seeds_fail_the_gate_even_without_a_baseline(doc):
    failed = replace(doc, comparison=gate.compare(replace(doc, failed_seeds=(2,)), None))
    page, _ = html_and_markdown(failed)
    line = failed.comparison.line()
    assert line.startswith("gate: REGRESSED") and "1 seed(s) failed: [2]" in line
    assert VERDICT.search(page).groups() == ("bad", "regressed", line)


def test_the_comparison_is_rendered_as_rows_a_person_reads(doc):
    baseline = replace(
        doc, run_id="2026-11-26", per_seed=tuple(replace(r, test_accuracy=0.99) for r in doc.per_seed)
    )
    baseline = replace(baseline, across_seeds=replace(baseline.across_seeds, mean=0.99))
    # every seed is below the baseline's: a max drop above the drop keeps the separation rule out, so that
    # Welch decides (the separation rule's rows: test_sealed_units)
    rule = GateRule(max_drop=0.5)
    page, text = html_and_markdown(replace(doc, comparison=gate.compare(doc, baseline, rule)))
    test = gate.compare(doc, baseline, rule).test
    assert "Compared with run 2026-11-26." in text and "| mean accuracy |" in text
    # The test's numbers each in a row of their own, never the dict they are kept in.
    assert "{'statistic'" not in page and "statistic" not in text
    assert f"| Welch t | {test.statistic:.2f} |" in text and f"| degrees of freedom | {test.df:.1f} |" in text
    assert "<td>p-value</td>" in page and "| rule | welch |" in text
    # Only what the applied rule uses, and a link to the baseline night's report.
    assert "| alpha (one-sided) | 0.0100 |" in text and "largest drop allowed" not in text
    assert "baseline reason" not in text and "fallback" not in text and "failed seeds" not in text
    assert (
        '<a href="../../2026-11-26/summary/report.html">the baseline night&#39;s report (2026-11-26)</a>'
        in page
    )


def test_the_headline_comes_first_then_the_verdict_then_the_seeds(doc):
    page = render_html(doc, {})
    order = [page.index(s) for s in ('class="lead"', 'class="verdict', 'id="baseline"', 'id="seeds"')]
    assert order == sorted(order)


def many_seeds_doc(n: int) -> RunSummary:
    seeds = tuple(range(100, 100 + n))
    result = compute_statistics(predictions_table("r1", 0.8, seeds=seeds), {}, "r1").summary
    return replace(result, comparison=gate.compare(result, None))


def test_per_seed_table_is_worst_first_and_folds_past_20_rows():
    doc = many_seeds_doc(25)
    page, text = html_and_markdown(doc)
    worst_first = [r.seed for r in sorted(doc.per_seed, key=lambda r: (r.test_accuracy, r.seed))]
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


@pytest.mark.parametrize(
    "seconds, text",
    [
        (None, "—"),
        (0.034, "0.03 s"),
        (41.24, "41.2 s"),
        (59.97, "1 min 0 s"),
        (192.4, "3 min 12 s"),
        (3599.4, "59 min 59 s"),
        (3599.6, "1.0 h"),
        (7560.0, "2.1 h"),
    ],
)
def test_durations_read_in_the_largest_unit_that_reads_well(seconds, text):
    assert duration_text(seconds) == text


def test_the_recipe_names_mean_and_std_as_the_inputs_normalisation():
    recipe = {"epochs": 10, "batch_size": 256, "lr": 0.1, "mean": 0.13, "std": 0.31}
    assert recipe_rows(recipe) == [
        ["epochs", "10"],
        ["batch_size", "256"],
        ["lr", "0.1"],
        ["input normalisation", "Normalize(mean=0.13, std=0.31)"],
    ]
    # a recipe without both numbers keeps what it has, as it has it
    assert recipe_rows({"lr": 0.01, "mean": "?"}) == [["lr", "0.01"], ["mean", "?"]]


@pytest.mark.parametrize(
    "word, tone",
    [
        ("passed", "good"),
        ("regressed", "bad"),
        ("seeds_failed", "bad"),
        ("inconclusive", "warn"),
        ("drift", "bad"),  # a regression: against the reference night
        ("n/a", "neutral"),
        ("not comparable", "neutral"),
        ("a word added later", "neutral"),
        (None, "neutral"),
    ],
)
def test_any_verdict_word_gets_a_chip_coloured_through_one_table(word, tone):
    chip = pages.environment().get_template("macros.html").module.chip(word or "")
    assert pages.tone(word) == tone and f'data-tone="{tone}"' in chip
    assert (word or "").replace("_", " ") in chip  # the word as it is, never dropped


def test_the_report_escapes_what_it_shows(doc):
    evil = replace(doc, run_id="<b>r1</b>", comparison=replace(doc.comparison, verdict="<i>new</i>"))
    page = render_html(evil, {})
    assert "<b>" not in page and "<i>" not in page and "&lt;b&gt;r1&lt;/b&gt;" in page
    assert 'data-tone="neutral">&lt;i&gt;new&lt;/i&gt;</span>' in page
