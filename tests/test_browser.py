"""report.html in a real browser (headless Chromium, offline): every image loads, no console error, a sane
height. Each test saves its screenshot in its tmp_path for a person to look at (the path is printed)."""

from pathlib import Path

import numpy as np
import pytest

from lenet_batch.errors import RegressionDetected
from lenet_batch.store.layout import Layout
from lenet_batch.summary import stage as summary_stage
from tests import synthetic_runs as syn
from tests.browser import WIDTH, Chromium, find_chromium
from tests.pixels import read_png

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium that runs: `make browser` (part of `make test`, and .ci/run) installs Debian's "
    "chromium as root or with passwordless sudo; or point LENET_BATCH_CHROMIUM at a Chromium binary",
)
# The report of any number of seeds fits in these many pixels at 1200 px wide: folded tables, figures of
# fixed size. Far taller means a table or figure grew with the seeds.
MIN_HEIGHT, MAX_HEIGHT = 2500, 9000


@pytest.fixture(scope="module")
def browser():
    with Chromium(CHROMIUM) as chromium:
        yield chromium


def pictures(n: int = 18) -> dict[str, np.ndarray]:
    """Images for the article's two pictures (a bright bar whose place depends on the label)."""
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = np.zeros((n, 28, 28), np.uint8)
    for k, c in enumerate(labels):
        images[k, 2 + 2 * c : 6 + 2 * c, 4:24] = 255
    return {"train_images": images, "train_labels": labels, "test_images": images, "test_labels": labels}


def write_report(tmp_path: Path, monkeypatch, n_seeds: int, epochs: int) -> Path:
    """A synthetic run of n seeds summarised into tmp_path; returns its report.html."""
    run = Layout(str(tmp_path / "out")).run("r1")
    syn.write_records(run, range(n_seeds), epochs)
    table = syn.predictions_table("r1", range(n_seeds), 2000 if n_seeds <= 20 else 200)
    monkeypatch.setattr(summary_stage, "read_predictions", lambda layout, run_id, **_: table)
    summary_stage.summarize_run(run, images=pictures() if n_seeds == 3 else None)
    return Path(run.summary_dir) / "report.html"


@pytest.mark.parametrize("n_seeds, epochs", [(1, 1), (3, 10), (20, 5), (256, 5), (1000, 1)])
def test_report_renders_in_a_browser(browser, tmp_path, monkeypatch, n_seeds, epochs):
    report = write_report(tmp_path, monkeypatch, n_seeds, epochs)
    page = browser.check_page(report)
    shot = tmp_path / f"report-{n_seeds}-seeds.png"
    shot.write_bytes(page.screenshot)
    print(f"screenshot: {shot}")
    figures = 4 + (n_seeds > 1) + 2 * (n_seeds == 3)  # disagreement from 2 seeds; pictures when given
    assert len(page.images) == figures
    assert all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in page.images), page.images
    assert page.errors == []
    assert MIN_HEIGHT < page.height < MAX_HEIGHT, page.height
    assert read_png(page.screenshot).shape[:2] == (page.height, WIDTH)


def test_the_check_sees_a_broken_page(browser, tmp_path):
    # The same check fails a page whose image is missing and whose script logs an error.
    page_file = tmp_path / "broken.html"
    page_file.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        '<img src="missing.png" alt="missing"><script>console.error("boom")</script></body></html>'
    )
    page = browser.check_page(page_file)
    assert page.images[0]["width"] == 0
    assert any("boom" in e for e in page.errors) and any(
        "missing.png" in e or "ERR_FILE" in e for e in page.errors
    )


def test_a_regressed_run_renders_its_verdict(browser, tmp_path, monkeypatch):
    run = Layout(str(tmp_path / "out")).run("r1")
    syn.write_records(run, range(3), 2)
    record_seeds = summary_stage.storage.read_json(run.run_json)
    record_seeds["config"]["seeds"] = "0-3"  # seed 3 never came back
    summary_stage.storage.write_json_atomic(run.run_json, record_seeds)
    table = syn.predictions_table("r1", range(3), 300)
    monkeypatch.setattr(summary_stage, "read_predictions", lambda layout, run_id, **_: table)
    with pytest.raises(RegressionDetected):
        summary_stage.summarize_run(run)
    page = browser.check_page(Path(run.summary_dir) / "report.html")
    (tmp_path / "report-regressed.png").write_bytes(page.screenshot)
    verdict = browser.evaluate("document.querySelector('.verdict').textContent")
    colour = browser.evaluate("getComputedStyle(document.querySelector('.verdict')).backgroundColor")
    assert verdict.startswith("gate: REGRESSED") and "1 seed(s) failed: [3]" in verdict
    assert colour == "rgb(251, 227, 225)"
    assert page.errors == []
