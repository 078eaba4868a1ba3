"""The gate's verdict on the report: a chip that can say inconclusive or drift, its sentence behind a
<details> with the smallest detectable drop and the seeds that would settle it, and how the gate decided."""

import html
import re
from dataclasses import replace

import pytest

from lenet_batch.summary import gate
from lenet_batch.summary.report_render import render_html, render_markdown
from lenet_batch.summary.statistics import compute_statistics
from lenet_batch.summary.types import RunSummary
from tests.report_helpers import metrics, predictions_table
from tests.test_gate import summary_of

SPREAD = (0.004, -0.003, -0.001, 0.0)
CASES = {  # tonight's seeds, the baseline's, the reference's (None: no reference): chip and tone
    "passed": ([0.880 + d for d in SPREAD], [0.881 - d for d in SPREAD], None, "good"),
    "regressed": ([0.8789, 0.8790, 0.8791], [0.8809, 0.8810, 0.8811], None, "bad"),
    "inconclusive": ([0.4653, 0.4953, 0.6153], [0.6143, 0.6743, 0.7343], None, "warn"),
    "drift": ([0.875 + d for d in SPREAD], [0.880 - d for d in SPREAD], [0.885 + d for d in SPREAD], "bad"),
}


@pytest.fixture(scope="module")
def doc() -> RunSummary:
    result = compute_statistics(predictions_table("r1", 0.8), {s: metrics(s) for s in (0, 1, 2)}, "r1")
    return result.summary


def judged(doc: RunSummary, case: str) -> RunSummary:
    tonight, base, ref = CASES[case][:3]
    reference = summary_of(ref, run_id="ref-night") if ref else None
    cmp = gate.compare(summary_of(tonight), summary_of(base, run_id="base-night"), reference=reference)
    assert cmp.chip() == case
    return replace(doc, comparison=cmp)


@pytest.mark.parametrize("case", CASES)
def test_the_chip_names_the_verdict_and_its_sentence_says_what_the_noise_allowed(doc, case):
    summary = judged(doc, case)
    page = render_html(summary, {})  # escaped: a "<" of the sentence does not end it here
    tone = CASES[case][3]
    chip = re.search(
        r'<details class="gate"><summary>gate: <span class="verdict chip" data-tone="(\w+)">'
        r'([^<]+)</span></summary><p>([^<]+)</p><p class="links">compared with (.*?)</p></details>',
        page,
    )
    assert chip and chip.groups()[:2] == (tone, case)
    # the nights it was compared with, each linking its report beside this one's
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', chip.group(4))
    compared = [("baseline", "base-night"), *([("reference", "ref-night")] if case == "drift" else [])]
    assert links == [(f"../../{rid}/summary/report.html", f"{role} {rid}") for role, rid in compared]
    sentence = html.unescape(chip.group(3))
    assert sentence == summary.comparison.line()
    assert f"smallest detectable drop {summary.comparison.detectable_drop:.4f}" in sentence
    assert ("seeds a side to tell a drop of 0.01" in sentence) is (case == "inconclusive")
    assert ("drift since ref-night" in sentence) is (case == "drift")
    md = render_markdown(summary, {})
    assert f"**{summary.comparison.line()}**" in md


@pytest.mark.parametrize("case", CASES)
def test_how_the_gate_decided_shows_the_bound_the_detectable_drop_and_the_reference(doc, case):
    summary = judged(doc, case)
    cmp, page = summary.comparison, html.unescape(render_html(summary, {}))
    assert "smallest detectable drop (power 0.8)" in page
    assert ("the drop's one-sided 90% upper bound" in page) is (cmp.drop_upper_bound is not None)
    assert f'seeds a side to tell a drop of 0.01</td><td class="num">{cmp.seeds_needed}<' in page
    named = "the reference night's report (ref-night)</a>" in page
    assert named is (case == "drift") and ("since the reference ref-night" in page) is (case == "drift")
