"""history.html and the trend figure read any night state: the words the runs index gives today, and words
added later (seeds_failed, interrupted, running, …) shown as they are, in the neutral colour."""

import re
from dataclasses import replace

import pytest

from lenet_batch.history import figures, page
from lenet_batch.history.stage import list_runs
from lenet_batch.store.layout import Layout
from tests.history_helpers import marks, read_png, write_synthetic_runs

ROW = re.compile(r'<tr class="([^"]*)" data-tone="(\w+)">(.*?)</tr>', re.S)
CHIP = re.compile(
    r'<span class="verdict chip" data-tone="(\w+)">([^<]*)</span></summary><span class="sentence">'
)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """Four synthetic nights, newest first: unfinished (failed), seeds failed, regressed, ok."""
    out = tmp_path_factory.mktemp("page")
    write_synthetic_runs(str(out), 4, 3, {1: "regressed", 2: "failed", 3: "incomplete"})
    return list_runs(Layout(str(out)))


def test_every_night_has_a_chip_and_its_sentence_a_click_away(rows):
    html = page.render_history_html(rows, {}, "lenet-batch history of /out")
    found = ROW.findall(html)
    assert [(state, tone) for state, tone, _ in found] == [
        ("failed", "bad"),
        ("seeds_failed", "bad"),
        ("regressed", "bad"),
        ("ok", "good"),
    ]
    chips = [CHIP.search(cells).groups() for _, _, cells in found]
    assert chips == [("bad", "failed"), ("bad", "seeds failed"), ("bad", "regressed"), ("neutral", "n/a")]
    regressed = found[2][2]
    assert re.search(r'<details><summary>.*</summary><span class="sentence">gate: REGRESSED — ', regressed)


def test_a_state_or_verdict_word_added_later_is_shown_as_it_is(rows):
    later = [
        replace(rows[0], outcome="running"),
        replace(rows[2], outcome="inconclusive", verdict="inconclusive", chip="inconclusive"),
    ]
    html = page.render_history_html(later, {}, "t")
    found = ROW.findall(html)
    assert [(state, tone) for state, tone, _ in found] == [("running", "info"), ("inconclusive", "warn")]
    assert [CHIP.search(cells).groups() for _, _, cells in found] == [
        ("info", "running"),
        ("warn", "inconclusive"),
    ]
    unknown = page.render_history_html([replace(rows[0], outcome="frobbed")], {}, "t")
    assert ROW.findall(unknown)[0][:2] == ("frobbed", "neutral")
    assert CHIP.search(unknown).groups() == ("neutral", "frobbed")
    assert "FROBBED" in unknown  # the sentence behind the chip: the state, with no gate to say more


def test_the_trend_marks_a_night_of_any_state(rows):
    states = ["ok", "seeds_failed", "interrupted", "regressed", "a later word"]
    nights = [
        replace(rows[2 if s == "regressed" else 3], outcome=s, run_id=f"n{k}") for k, s in enumerate(states)
    ]
    found, _ = marks(read_png(figures.accuracy_trend_png(nights)))
    assert found == ["ok", "failed", "failed", "regressed", "failed"]


def test_the_lead_is_the_newest_night_and_the_stages_say_where_it_stopped(rows):
    html = page.render_history_html(rows, {}, "lenet-batch history of /srv/lenet/out")
    assert "<h1>lenet-batch history of /<wbr>srv/<wbr>lenet/<wbr>out</h1>" in html  # breaks at '/' only
    lead = re.sub(r"<[^>]+>", "", re.search(r'<p class="lead">(.*)</p>', html).group(1))
    assert lead.startswith(f"Last night, {rows[0].run_id}: 3 seed(s), mean test accuracy none yet")
    assert [page.stage_text(r) for r in rows] == [
        "infer not run",
        "train failed",
        "complete",  # the gate's column says regressed
        "complete",
    ]
    assert page.nights_in_brief(rows).startswith(f"4 night(s) from {rows[-1].run_id} to {rows[0].run_id}: ")
    assert "4 night(s)" in html and page.nights_in_brief([]) == "No runs yet."


def test_the_page_escapes_what_the_records_say(rows):
    evil = replace(rows[2], gate="<script>alert(1)</script>", run_id="<b>id</b>")
    html = page.render_history_html([evil], {}, "<i>title</i>")
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;i&gt;title&lt;/i&gt;" in html
