"""report.html and history.html in a real browser (headless Chromium, offline), on a laptop (1280 px) and on
a phone (390 x 844 px): every image loads, no console error, a sane height, no page-level sideways scrolling,
nothing wider than the window (a wide table scrolls in its own box; on a laptop none needs to), no text
spilling out of its box, every link resolving; on the phone, the first screen shows the verdict and the mean.
Each test saves its screenshots in its tmp_path for a person to look at (the paths are printed)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from lenet_batch.config import Settings
from lenet_batch.errors import GateInconclusive, RegressionDetected
from lenet_batch.history.stage import build_history
from lenet_batch.pipeline.hand_summary import summarise
from lenet_batch.pipeline.verdicts import accept
from lenet_batch.store.layout import Layout
from lenet_batch.summary import stage as summary_stage
from tests import synthetic_runs as syn
from tests.browser import PHONE, WIDTH, Chromium, PageCheck, find_chromium
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
    summarise(run, images=pictures() if n_seeds == 3 else None)
    build_history(run.layout)  # the report links it
    return Path(run.summary_dir) / "report.html"


@pytest.mark.parametrize("n_seeds, epochs", [(1, 1), (3, 10), (20, 5), (256, 5), (1000, 1)])
def test_report_renders_in_a_browser(browser, tmp_path, monkeypatch, n_seeds, epochs):
    report = write_report(tmp_path, monkeypatch, n_seeds, epochs)
    figures = 4 + (n_seeds > 1) + 2 * (n_seeds == 3)  # disagreement from 2 seeds; pictures when given
    # the tables beside the report (no disagreement table with 1 seed), history.html, each figure's PNG
    page = looked_at(browser, report, tmp_path / f"report-{n_seeds}-seeds.png", (3 + (n_seeds > 1)) + figures)
    assert len(page.images) == figures
    assert all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in page.images), page.images
    assert MIN_HEIGHT < page.height < MAX_HEIGHT, page.height
    assert read_png(page.screenshot).shape[:2] == (page.height, WIDTH)


def assert_laid_out(page: PageCheck, path: Path, n_links: int, width: int = WIDTH) -> None:
    """Nothing wider than the window, no text out of its box, every link resolving (and as many as said);
    on a laptop no table needs to scroll sideways in its box."""
    layout = page.layout
    assert layout.overflow <= 0 and layout.wide == [], (layout.overflow, layout.wide[:5])
    assert layout.clipped == [], layout.clipped[:5]
    assert layout.missing == [] and layout.unresolved(path) == [], (layout.missing, layout.unresolved(path))
    assert len(layout.links) == n_links, layout.links
    if width >= WIDTH:
        assert layout.scrolls == [], layout.scrolls[:5]


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


def test_the_layout_check_sees_overflow_clipped_text_and_dead_links(browser, tmp_path):
    page_file = tmp_path / "wide.html"
    long_id = "2026-11-28-" + "x" * 300
    page_file.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        f'<table><tr><td style="white-space:nowrap">{long_id}</td></tr></table>'
        '<p style="width:80px;overflow:hidden;white-space:nowrap">a sentence cut off at its edge</p>'
        '<a href="#nowhere">anchor</a> <a href="gone.html">file</a> <a href="https://example.com/">web</a>'
        "</body></html>"
    )
    layout = browser.check_page(page_file).layout
    assert layout.overflow > 1000 and any(w.startswith("td") for w in layout.wide)
    assert any(c.startswith("p: a sentence cut off") for c in layout.clipped)
    assert layout.missing == ["#nowhere"]
    assert layout.unresolved(page_file) == ["https://example.com/", "gone.html"]
    assert layout.scrolls == []


def test_a_wide_table_in_a_scrolling_box_is_not_overflow_but_a_scroll(browser, tmp_path):
    page_file = tmp_path / "scroll.html"
    cells = "".join(f'<td style="white-space:nowrap">2026-11-28 cell {k}</td>' for k in range(30))
    page_file.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        f'<div style="overflow-x:auto"><table><tr>{cells}</tr></table></div></body></html>'
    )
    layout = browser.check_page(page_file, PHONE[0]).layout
    assert layout.overflow <= 0 and layout.wide == [] and layout.clipped == []
    assert len(layout.scrolls) == 1 and layout.scrolls[0].startswith("div: 2026-11-28 cell 0")


def test_a_regressed_run_renders_its_verdict(browser, tmp_path, monkeypatch):
    run = Layout(str(tmp_path / "out")).run("r1")
    syn.write_records(run, range(3), 2)
    record_seeds = summary_stage.storage.read_json(run.run_json)
    record_seeds["config"]["seeds"] = "0-3"  # seed 3 never came back
    summary_stage.storage.write_json_atomic(run.run_json, record_seeds)
    table = syn.predictions_table("r1", range(3), 300)
    monkeypatch.setattr(summary_stage, "read_predictions", lambda layout, run_id, **_: table)
    with pytest.raises(RegressionDetected):
        summarise(run)
    page = browser.check_page(Path(run.summary_dir) / "report.html")
    (tmp_path / "report-regressed.png").write_bytes(page.screenshot)
    verdict = browser.evaluate("document.querySelector('.verdict').textContent")
    colour = browser.evaluate("getComputedStyle(document.querySelector('.verdict')).backgroundColor")
    assert verdict == "regressed" and colour == "rgb(251, 227, 225)"
    sentence = assert_a_click_away(browser, "details.gate")
    assert sentence.startswith("gate: REGRESSED") and "1 seed(s) failed: [3]" in sentence
    assert page.errors == []


def assert_a_click_away(browser, details: str) -> str:
    """The <details> block's text is hidden until its summary is clicked, then shown; returns that text."""
    shown = f"document.querySelector('{details} > :not(summary)').checkVisibility()"
    assert browser.evaluate(shown) is False
    browser.evaluate(f"document.querySelector('{details} > summary').click()")
    assert browser.evaluate(shown) is True
    return browser.evaluate(f"document.querySelector('{details} > :not(summary)').textContent")


def night(
    out: Path, monkeypatch, day: int, worse: bool = False, seeds: int = 3, one_bad_seed: bool = False
) -> None:
    """Night 2026-11-2<day> of `seeds` seeds x 1 epoch summarised into out; a worse night gets 45% of the test
    images wrong on top, so the gate calls it a regression against the night before; one bad seed (every
    image wrong) spreads the seeds so far that the interval of their mean is cut at 0 and 1."""
    rid, ids = f"2026-11-2{day}", list(range(3 * day, 3 * day + seeds))
    run = Layout(str(out)).run(rid)
    syn.write_records(run, ids, 1)
    record = summary_stage.storage.read_json(run.run_json)
    record["created_at"] = f"{rid}T02:00:00Z"
    summary_stage.storage.write_json_atomic(run.run_json, record)
    table = syn.predictions_table(rid, ids, 1000)
    wrong = ((np.arange(table.num_rows) % 1000) < 450) & worse
    wrong |= (table["seed"].to_numpy() == ids[0]) & one_bad_seed
    labels = table["label"].to_numpy()
    predicted = np.where(wrong, (labels + 1) % 10, table["prediction"].to_numpy()).astype(np.int32)
    table = table.set_column(table.column_names.index("prediction"), "prediction", [predicted])
    monkeypatch.setattr(summary_stage, "read_predictions", lambda layout, run_id, **_: table)
    try:
        summarise(run, images=pictures())
    except RegressionDetected:
        assert worse
    except GateInconclusive:  # 2 noisy seeds a side cannot tell the nights apart
        assert not worse


@pytest.mark.parametrize("nights, seeds", [(1, 3), (3, 3), (3, 2)])
def test_report_and_history_of_nights_read_well(browser, tmp_path, monkeypatch, nights, seeds):
    out = tmp_path / "out"
    for day in range(6, 6 + nights):
        night(out, monkeypatch, day, worse=day == 8, seeds=seeds)
    build_history(Layout(str(out)))
    report = out / "runs" / f"2026-11-2{5 + nights}" / "summary" / "report.html"
    # The report links its tables, history.html, its 7 figures' PNGs and the reports of its baseline and
    # reference nights (twice: in the verdict's box and in the section on them).
    compared = compared_nights(out, f"2026-11-2{5 + nights}")
    assert len(compared) == (0 if nights == 1 else 1 if seeds == 2 else 2)  # 2 seeds: night 7 inconclusive
    page = looked_at(
        browser, report, tmp_path / f"report-{nights}-nights-{seeds}-seeds.png", 4 + 7 + 2 * len(compared)
    )
    verdict = browser.evaluate("document.querySelector('.verdict').textContent")
    assert verdict == ("regressed" if nights == 3 else "n/a")
    sentence = assert_a_click_away(browser, "details.gate")
    assert sentence.startswith("gate: REGRESSED" if nights == 3 else "gate: n/a (no baseline)")
    assert len(page.images) == 7
    lead = assert_intervals_read(browser, seeds)
    assert lead.startswith(f"run 2026-11-2{5 + nights}: {seeds} seeds, mean test accuracy 0.")
    # The history links each night's report, its 2 figures' PNGs, and each night's baseline and reference
    # (last night's twice: in its row and at the top); run ids, start times and stages each stay on one
    # line, every row is one or two lines tall, and its gate's sentence is a click away.
    history = out / "history" / "history.html"
    linked = sum(len(compared_nights(out, f"2026-11-2{day}")) for day in range(6, 6 + nights))
    shot = tmp_path / f"history-{nights}-nights-{seeds}-seeds.png"
    looked_at(browser, history, shot, nights + 2 + linked + len(compared))
    lines = json.loads(browser.evaluate(LINES_JS))
    assert len(lines) == 3 * nights and set(lines) == {1}, lines
    heights = json.loads(browser.evaluate(ROW_HEIGHTS_JS))
    assert len(heights) == nights + 1 and max(heights[1:]) <= 2 * heights[0] + 2, heights  # header: 1 line
    cells = assert_intervals_read(browser, seeds)
    assert len(cells) == nights
    said = assert_a_click_away(browser, "#runs tbody tr:first-child details")
    assert said.startswith("gate: REGRESSED" if nights == 3 else "gate: n/a (no baseline)")
    if seeds < 3:  # no band either: the trend's caption says why
        assert "too few seeds for a band" in browser.evaluate(
            "document.querySelector('figcaption').textContent"
        )


def compared_nights(out: Path, rid: str) -> set[str]:
    """The nights a night's gate compared it with: its baseline and reference (none: no baseline)."""
    cmp = json.loads((out / "runs" / rid / "summary" / "summary.json").read_text())["comparison"]
    return {cmp["baseline_run_id"], (cmp.get("reference") or {}).get("run_id")} - {None}


def test_an_interval_cut_at_0_and_1_says_so_on_both_pages(browser, tmp_path, monkeypatch):
    out = tmp_path / "out"
    night(out, monkeypatch, 6, one_bad_seed=True)
    build_history(Layout(str(out)))
    looked_at(
        browser, out / "runs" / "2026-11-26" / "summary" / "report.html", tmp_path / "report.png", 4 + 7
    )
    assert "(95% CI [0.0000, 1.0000], clipped at 0 and 1)" in assert_intervals_read(browser, 3)
    looked_at(browser, out / "history" / "history.html", tmp_path / "history.png", 1 + 2)
    assert assert_intervals_read(browser, 3) == ["[0.0000, 1.0000]clipped at 0 and 1"]


# Numbers joined by a hyphen ("0.0045-0.3208") read as a subtraction or a negative bound.
HYPHENED = re.compile(r"\d\.\d+ ?[-–] ?\d*\.\d")  # not across a tab: a table's next cell may be negative
INTERVAL = re.compile(r"\[(\d\.\d{4}), (\d\.\d{4})\]")
MEAN_CELLS_JS = """JSON.stringify(Array.from(document.querySelectorAll('#runs tbody tr')).map(
  tr => tr.children[4].textContent))"""


def assert_intervals_read(browser, seeds: int) -> str | list[str]:
    """The page's intervals: written [lo, hi] within [0, 1], never lo-hi; below 3 seeds none, but the words
    'too few seeds for an interval'. Returns the report's headline, or the history's interval cells (the
    mean cut off)."""
    text = browser.evaluate("document.body.innerText")
    assert not HYPHENED.search(text), HYPHENED.search(text)
    for low, high in INTERVAL.findall(text):
        assert 0.0 <= float(low) <= float(high) <= 1.0, (low, high)
    if seeds < 3:
        assert "95% CI [" not in text and "too few seeds for an interval" in text
    is_report = browser.evaluate("document.querySelector('#headline') !== null")
    if is_report:
        lead = browser.evaluate("document.querySelector('.lead').textContent")
        said = "(too few seeds for an interval)" if seeds < 3 else "(95% CI ["
        assert said in lead, lead
        return lead
    cells = [re.sub(r"^\d\.\d{4} ?", "", cell) for cell in json.loads(browser.evaluate(MEAN_CELLS_JS))]
    for cell in cells:
        assert (cell == "too few seeds for an interval") if seeds < 3 else INTERVAL.match(cell), cells
    return cells


# How many lines of text each td.nowrap cell takes: the distinct tops of its text's boxes.
LINES_JS = """JSON.stringify(Array.from(document.querySelectorAll('td.nowrap')).map(td => {
  const range = document.createRange(); range.selectNodeContents(td);
  return new Set(Array.from(range.getClientRects()).map(r => Math.round(r.bottom))).size; }))"""


# Each row's height in the runs table, the header's first (one line).
ROW_HEIGHTS_JS = """JSON.stringify(Array.from(document.querySelectorAll('#runs tr')).map(
  tr => tr.getBoundingClientRect().height))"""
# Where the verdict's chip and the lead (the mean's sentence) end, and what the lead says.
FIRST_SCREEN_JS = """JSON.stringify(['.verdict', '.lead'].map(s => { const e = document.querySelector(s);
  return e && [e.getBoundingClientRect().width, e.getBoundingClientRect().bottom, e.textContent]; }))"""
# How many lines each part of a title that must not break (a date, a run id) takes.
TITLE_LINES_JS = LINES_JS.replace("td.nowrap", "h1 .nowrap")


def looked_at(browser, path: Path, shot: Path, n_links: int) -> PageCheck:
    """The page checked on a phone, then on a laptop (left loaded), each screenshot saved: images, console,
    layout and links; on the phone, a first screen that shows the verdict and the mean; a title that never
    breaks inside a date or run id."""
    for width in (PHONE[0], WIDTH):
        page = browser.check_page(path, width)
        saved = shot.with_name(f"{shot.stem}-{width}{shot.suffix}")
        saved.write_bytes(page.screenshot)
        print(f"screenshot: {saved}")
        assert page.errors == [] and all(i["complete"] and i["width"] > 0 for i in page.images)
        assert_laid_out(page, path, n_links, width)
        assert set(json.loads(browser.evaluate(TITLE_LINES_JS))) <= {1}
        if width == PHONE[0]:
            verdict, lead = json.loads(browser.evaluate(FIRST_SCREEN_JS))
            assert verdict[0] > 0 and verdict[1] <= PHONE[1] and lead[1] <= PHONE[1], (verdict, lead)
            assert re.search(r"mean test accuracy \d\.\d{4}", lead[2]), lead
    return page


# The accepted night's row: where its chip and its "accepted" mark are, and what the mark says.
ACCEPTED_ROW_JS = """JSON.stringify((() => {
  const tr = Array.from(document.querySelectorAll('#runs tbody tr')).find(t => t.cells[0].textContent === ID);
  const chip = tr.querySelector('summary .verdict').getBoundingClientRect();
  const mark = tr.querySelector('summary .accepted');
  const box = mark.getBoundingClientRect();
  return {chip: [chip.top, chip.bottom, chip.right], mark: [box.top, box.bottom, box.left, box.width],
          said: mark.textContent, tone: getComputedStyle(mark).backgroundColor}; })())"""


def test_an_accepted_night_is_marked_beside_its_chip_and_the_next_night_names_it(
    browser, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    for day in (6, 7, 8):
        night(out, monkeypatch, day, worse=day == 8)
    reason = "a harder test split, on purpose"
    accept(Settings(output=str(out), run_id="2026-11-28"), reason=reason)
    night(out, monkeypatch, 9, worse=True)  # at the accepted night's level: it passes against it
    build_history(Layout(str(out)))
    assert compared_nights(out, "2026-11-29") == {"2026-11-28"}  # an acceptance ends the reference's search
    history = out / "history" / "history.html"
    linked = sum(len(compared_nights(out, f"2026-11-2{day}")) for day in range(6, 10))
    looked_at(browser, history, tmp_path / "history-accepted.png", 4 + 2 + linked + 1)
    for width in (PHONE[0], WIDTH):
        browser.check_page(history, width)
        row = json.loads(browser.evaluate(ACCEPTED_ROW_JS.replace("ID", "'2026-11-28'")))
        chip, mark = row["chip"], row["mark"]
        assert row["said"] == "accepted" and mark[3] > 0 and row["tone"] == "rgb(225, 236, 251)", row
        assert abs(mark[0] - chip[0]) < 3 and chip[2] <= mark[2] < chip[2] + 12, (width, row)  # beside it
        heights = json.loads(browser.evaluate(ROW_HEIGHTS_JS))
        assert max(heights[1:]) <= 2 * heights[0] + 2, (width, heights)  # every row one or two lines tall
        details = "#runs tbody tr:nth-child(2) details"  # newest first: the accepted night is second
        sentence = assert_a_click_away(browser, details)
        assert sentence.startswith("gate: REGRESSED — baseline 2026-11-27")
        why = browser.evaluate(f"document.querySelector('{details} .accepted-why').textContent")
        assert re.fullmatch(rf"accepted by \S+@\S+ \(\S+Z\): '{reason}'", why), why
        newest = assert_a_click_away(browser, "#runs tbody tr:first-child details")
        assert re.match(rf"gate: passed — baseline 2026-11-28, accepted: (.+, )?'{reason}': mean ", newest)
    # the next night's report: its verdict names the accepted baseline, and links it from the verdict's box
    report = out / "runs" / "2026-11-29" / "summary" / "report.html"
    looked_at(browser, report, tmp_path / "report-after-accepted.png", 4 + 7 + 2)
    sentence = assert_a_click_away(browser, "details.gate")
    assert re.match(rf"gate: passed — baseline 2026-11-28, accepted: (.+, )?'{reason}': mean ", sentence)
    link = browser.evaluate("document.querySelector('details.gate .links a').getAttribute('href')")
    assert link == "../../2026-11-28/summary/report.html"
