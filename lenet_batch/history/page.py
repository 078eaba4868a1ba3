"""history.html (template: lenet_batch/pages/templates/history.html): the last night's verdict and mean
first, the trend figures (embedded, each opening its PNG), and the runs table, each night linking its own
report. A row is one or two lines tall: the gate's sentence is one click away; run ids, times and numbers
never wrap; each figure's caption says what to look at.
"""

from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from lenet_batch import pages
from lenet_batch.history.figures import FIGURES
from lenet_batch.state.night import NightStatus, pruned_line
from lenet_batch.state.outcome import GATE_OUTCOMES, JUDGED_STAGES
from lenet_batch.summary.report import clipped_text
from lenet_batch.summary.types import MIN_INTERVAL_SEEDS

Link = tuple[str, str]  # (text, href)


def interval_note(row: NightStatus) -> str:
    """What the interval leaves out: cut at 0 or 1, or too few seeds for one ('' when nothing)."""
    if row.mean_accuracy is None:
        return ""
    if row.ci95_low is None and 0 < row.seeds_ok < MIN_INTERVAL_SEEDS:
        return "too few seeds for an interval"
    if row.ci95_low is not None and row.ci95_high is not None and row.ci95_clipped:
        return clipped_text(row.ci95_low, row.ci95_high)
    return ""


def verdict_word(row: NightStatus) -> str:
    """The chip's word: the gate's verdict, or the night's outcome when it has no gate or ended otherwise."""
    judged = row.outcome in ("ok", "regressed", "inconclusive") and row.verdict is not None
    return (row.chip or row.verdict) if judged else row.outcome  # type: ignore[return-value]


def gate_text(row: NightStatus) -> str:
    """The sentence behind the chip: the gate's, or how the night ended and why."""
    if row.outcome in ("ok", "regressed", "inconclusive") and row.gate:
        return row.gate
    return row.outcome.upper().replace("_", " ") + (f": {row.reason}" if row.reason else "")


def stage_text(row: NightStatus) -> str:
    """'complete' when every stage completed (a summary the gate judged too: the gate's column says how);
    else the stages that ended otherwise, and how (or the first one that did not run); and when the night
    was pruned."""
    statuses = {stage: row.status(stage) for stage in JUDGED_STAGES}
    done = (None, "complete", *GATE_OUTCOMES)
    ended = [f"{stage} {status}" for stage, status in statuses.items() if status not in done]
    missing = [f"{stage} not run" for stage, status in statuses.items() if status is None]
    text = ", ".join(ended or missing[:1]) or "complete"
    pruned = pruned_line(row)
    return f"{text}; {pruned}" if pruned else text


def nights_in_brief(rows: Sequence[NightStatus]) -> str:
    """How many nights, from when to when, and how many ended in each state (most first)."""
    if not rows:
        return "No runs yet."
    counts = ", ".join(
        f"{n} {state.replace('_', ' ')}" for state, n in Counter(r.outcome for r in rows).most_common()
    )
    return f"{len(rows)} night(s) from {rows[-1].run_id} to {rows[0].run_id}: {counts}."


def report_link(row: NightStatus) -> str | None:
    """The night's report relative to history/ (None: the night has none)."""
    return f"runs/{row.run_id}/summary/report.html" if row.report else None


def compared_with(rows: Sequence[NightStatus], link_prefix: str) -> Callable[[NightStatus], list[Link]]:
    """A night's baseline and reference, each linking its report when the history holds it (else named in
    the gate's sentence alone)."""
    reports = {row.run_id: link for row in rows if (link := report_link(row))}

    def compared(row: NightStatus) -> list[Link]:
        nights = [("baseline", row.baseline_run_id), ("reference", row.reference_run_id)]
        return [(f"{role} {rid}", link_prefix + reports[rid]) for role, rid in nights if rid in reports]

    return compared


def render_history_html(
    rows: Sequence[NightStatus],
    figures: dict[str, bytes],
    title: str,
    link_prefix: str = "../",
    captions: Mapping[str, str] | None = None,
) -> str:
    """history.html, self-contained: figures as data URIs; rows newest first; links relative to history/."""
    return pages.render(
        "history.html",
        title=title,
        rows=rows,
        figures=figures,
        captions={**FIGURES, **(captions or {})},
        link_prefix=link_prefix,
        brief=nights_in_brief(rows),
        stages=stage_text,
        note=interval_note,
        word=verdict_word,
        gate=gate_text,
        report=report_link,
        compared=compared_with(rows, link_prefix),
    )
