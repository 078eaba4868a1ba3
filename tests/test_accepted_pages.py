"""An accepted night on the pages: history.html puts an "accepted" mark beside its chip with who and why a
click away, and links each night's baseline and reference; the trend figure rings it, its legend and caption
saying so, and marks an inconclusive night as its own state. Synthetic nights judged by the real gate."""

import html
import re

import numpy as np
import pytest

from lenet_batch.config import Settings
from lenet_batch.history import figures, page
from lenet_batch.history.stage import build_history, list_runs
from lenet_batch.pipeline.verdicts import accept
from lenet_batch.store.layout import Layout
from tests.history_helpers import mark_positions, marks, read_png, rings, run_id
from tests.test_accept import STEADY
from tests.verdict_helpers import recorded, write_night

# night -> (its seeds' accuracies, lr): three steady nights, a new recipe that regresses, two at its level,
# then one too noisy to tell
NIGHTS = [
    (STEADY, 0.1),
    (STEADY, 0.1),
    (STEADY, 0.1),
    ([0.800, 0.802, 0.798], 0.05),
    ([0.801, 0.799, 0.800], 0.05),
    ([0.800, 0.801, 0.799], 0.05),
    ([0.805, 0.760, 0.805], 0.05),
]
VERDICTS = ["n/a", "passed", "passed", "regressed", "passed", "passed", "inconclusive"]


@pytest.fixture(params=[(), (3,), (1, 3)], ids=["none-accepted", "the-change-accepted", "two-accepted"])
def nights(request, tmp_path) -> tuple[Layout, tuple[int, ...]]:
    """The nights, each accepted one accepted before the next night was judged."""
    layout = Layout(str(tmp_path / "out"))
    for k, (accuracies, lr) in enumerate(NIGHTS):
        write_night(layout, k, accuracies, lr=lr)
        if k in request.param:
            accept(Settings(output=layout.output, run_id=run_id(k)), reason=f"change of night {k}")
    return layout, request.param


def test_the_nights_are_judged_as_the_test_means(nights):
    layout, accepted = nights
    said = [recorded(layout, run_id(k))["verdict"] for k in range(len(NIGHTS))]
    expected = list(VERDICTS)
    if 3 not in accepted:  # the nights at the new level regress against the last one before the change
        expected[4:] = ["regressed"] * 3
    assert said == expected


def test_the_trend_rings_each_accepted_night_and_its_legend_and_caption_say_so(nights):
    layout, accepted = nights
    rows = list(reversed(list_runs(layout)))  # oldest first, as the figure draws them
    pixels = read_png(figures.accuracy_trend_png(rows))
    found, legend = marks(pixels)
    assert found == [_state(r) for r in rows]
    assert found[3] == "regressed"  # an accepted night keeps the colour of its verdict; the ring says more
    assert ("inconclusive" in legend) is ("inconclusive" in found)
    at = [x for x, _ in mark_positions(pixels)][: len(rows)]  # the nights' marks, left to right
    ringed = rings(pixels)
    if not accepted:
        assert ringed == []
    else:
        assert len(ringed) == len(accepted) + 1  # and the legend's
        assert [round(x) for x in ringed[:-1]] == pytest.approx([round(at[k]) for k in accepted], abs=2)
        assert ringed[-1] > max(at) + 20  # the legend, right of the axes
    caption = figures.trend_captions(rows, [], np.zeros((0, 0)))["accuracy_trend.png"]
    assert "a black ring: a night accepted by hand as the new baseline" in caption
    names = "; ".join(f"{run_id(k)} ('change of night {k}')" for k in accepted)
    assert (f"Accepted as the new baseline (ringed): {names}." in caption) is bool(accepted)


def _state(row) -> str:
    """How the figure should mark a night: the verdict of an accepted one that regressed or was inconclusive
    (its outcome is ok), else its outcome."""
    return row.verdict if row.accepted and row.verdict in ("regressed", "inconclusive") else row.outcome


ROW = re.compile(r'<tr class="[^"]*" data-tone="\w+">(.*?)</tr>', re.S)


def test_history_marks_each_accepted_night_beside_its_chip_and_links_what_it_was_compared_with(nights):
    layout, accepted = nights
    build_history(layout)
    text = open(f"{layout.output}/history/history.html").read()
    rows = ROW.findall(text)[::-1]  # oldest first
    assert len(rows) == len(NIGHTS)
    for k, cells in enumerate(rows):
        summary = re.search(r"<summary>(.*?)</summary>", cells).group(1)
        mark = '<span class="accepted chip" data-tone="info">accepted</span>'
        assert (mark in summary) is (k in accepted), (k, summary)
        why = re.search(r'<span class="sentence accepted-why">(.*?)</span>', cells)
        assert (why is not None) is (k in accepted)
        if why:
            assert re.fullmatch(rf"accepted by \S+@\S+ \(\S+Z\): &#39;change of night {k}&#39;", why.group(1))
        cmp = recorded(layout, run_id(k))
        sentence = html.unescape(re.search(r'<span class="sentence">(.*?)</span>', cells).group(1))
        if cmp["baseline_run_id"]:  # the evidence is in the sentence behind the chip
            assert f"smallest detectable drop {cmp['detectable_drop']:.4f} (power 0.8" in sentence
            needed = f"this noise needs about {cmp['seeds_needed']} seeds a side to tell a drop of 0.01"
            assert (needed in sentence) is (cmp["verdict"] == "inconclusive"), sentence
        nights_compared = [("baseline", cmp["baseline_run_id"])]
        nights_compared += [("reference", cmp["reference"]["run_id"])] if cmp["reference"] else []
        links = re.findall(r'<a href="\.\./runs/([^/]+)/summary/report\.html">(\w+) ([\d-]+)</a>', cells)
        expected = [(rid, role, rid) for role, rid in nights_compared if rid]
        assert links == expected, (k, links)
    # last night's gate, at the top: the mark when it is accepted, who and why behind it, what it was compared
    # with, linked
    for accepting in (False, True):
        if accepting:
            accept(Settings(output=layout.output, run_id=run_id(6)), reason="noisy, and fine")
        lead = re.search(
            r'<details class="gate">(.*?)</details>', page.render_history_html(list_runs(layout), {}, "t")
        )
        assert lead.group(1).startswith('<summary>last night&#39;s gate: <span class="verdict chip"')
        assert ('<span class="accepted chip"' in lead.group(1)) is accepting
        assert ("&#39;noisy, and fine&#39;</p>" in lead.group(1)) is accepting
        base = recorded(layout, run_id(6))["baseline_run_id"]
        assert (
            f'compared with <a href="../runs/{base}/summary/report.html">baseline {base}</a>' in lead.group(1)
        )
