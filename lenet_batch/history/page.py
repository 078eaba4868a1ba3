"""history.html: the trend figures (embedded) and the runs table, each night linking its own report.

The report's stylesheet and margins (summary/style.py); run ids, times and numbers never wrap; each figure's
caption says what to look at.
"""

import base64
import html
import struct
from collections import Counter
from collections.abc import Mapping, Sequence

from lenet_batch.history.figures import FIGURES
from lenet_batch.state.night import NightStatus
from lenet_batch.state.outcome import OUTCOMES, STAGES
from lenet_batch.summary.report import clipped_text
from lenet_batch.summary.style import page_head
from lenet_batch.summary.types import MIN_INTERVAL_SEEDS

# (header, cell class): numbers right-aligned, ids and times on one line, the long sentences smaller.
COLUMNS = (
    ("run", "nowrap"),
    ("started (UTC)", "nowrap"),
    ("stages", "nowrap"),
    ("seeds", "num"),
    ("mean [95% CI]", "num"),
    ("ensemble", "num"),
    ("change", "small"),
    ("gate", "small"),
)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _seeds(row: NightStatus) -> str:
    failed = len(row.failed_seeds)
    return f"{row.seeds_ok}" + (f" + {failed} failed" if failed else "")


def _accuracy(row: NightStatus) -> str:
    """The mean and its interval as HTML: '0.8810 [0.8773, 0.8847]', with a note below when the interval
    was cut at 0 or 1, or when there are too few seeds for one (a note that may wrap: the column stays
    as narrow as its numbers)."""
    if row.mean_accuracy is None:
        return "—"
    note = ""
    if row.ci95_low is None and 0 < row.seeds_ok < MIN_INTERVAL_SEEDS:
        note = "too few seeds for an interval"
    elif row.ci95_low is not None and row.ci95_high is not None and row.ci95_clipped:
        note = clipped_text(row.ci95_low, row.ci95_high)
    ci = "" if row.ci95_low is None else f" [{_num(row.ci95_low)}, {_num(row.ci95_high)}]"
    return html.escape(_num(row.mean_accuracy) + ci) + (f'<span class="note">{note}</span>' if note else "")


def _gate(row: NightStatus) -> str:
    if row.outcome == "damaged":  # whatever its records say beside, they do not read: say why
        return f"DAMAGED: {row.reason}"
    if row.gate is None and row.outcome != "ok":
        return f"{row.outcome.upper()}: {row.reason}"
    return row.gate or "—"


def _change(row: NightStatus) -> str:
    """What changed against the night's baseline as HTML, one change a line that never breaks inside
    ("lr 0.1 → 0.01"); "no change" when nothing recorded did, "—" with no baseline or nothing recorded."""
    if row.changed is None or row.baseline_run_id is None:
        return "—"
    if not row.changed:
        return "no change"
    return "<br>".join(f'<span class="nowrap">{html.escape(c.text())}</span>' for c in row.changed)


def _stage_cell(row: NightStatus) -> str:
    """'complete' when train, infer and summary all completed; else each stage that did not, and how."""
    statuses = {stage: row.status(stage) for stage in STAGES[:3]}
    if all(status == "complete" for status in statuses.values()):
        return "complete"
    return ", ".join(
        f"{stage} {status or 'not run'}" for stage, status in statuses.items() if status != "complete"
    )


def _started(row: NightStatus) -> str:
    """The start time to the minute: 2026-11-28 02:00."""
    when = row.created_at or ""
    return when[:16].replace("T", " ") if len(when) >= 16 else when or "—"


def table_row(row: NightStatus, link_prefix: str) -> str:
    """One night as a table row; its run id links its report (relative to history.html) when it has one."""
    esc = html.escape
    run = esc(row.run_id)
    if row.report:
        link = f"{link_prefix}runs/{row.run_id}/summary/report.html"
        run = f'<a href="{esc(link, quote=True)}">{run}</a>'
    values = [esc(_started(row)), esc(_stage_cell(row)), esc(_seeds(row)), _accuracy(row)]
    values += [esc(_num(row.ensemble_accuracy)), _change(row), esc(_gate(row))]
    cells = [run, *values]
    body = "".join(
        f'<td class="{cls}">{cell}</td>' if cls else f"<td>{cell}</td>"
        for (_, cls), cell in zip(COLUMNS, cells, strict=True)
    )
    return f'<tr class="{esc(row.outcome)}">{body}</tr>'


def nights_in_brief(rows: Sequence[NightStatus]) -> list[str]:
    """How many nights, from when to when, how many in each state, and the last night's verdict."""
    if not rows:
        return ["No runs yet."]
    counts = Counter(r.outcome for r in rows)
    states = ", ".join(f"{counts[s]} {s}" for s in OUTCOMES if counts[s])
    newest, oldest = rows[0], rows[-1]
    return [
        f"{len(rows)} night(s) from {oldest.run_id} to {newest.run_id}: {states}.",
        f"Last night, {newest.run_id}: {_gate(newest)}",
    ]


def _figure(name: str, png: bytes, caption: str) -> str:
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk: the page lays out before decoding
    text = html.escape(caption)
    return (
        f'<figure id="{html.escape(name)}"><img src="{uri}" width="{width}" height="{height}" '
        f'alt="{text}"><figcaption>{text}</figcaption></figure>'
    )


def render_history_html(
    rows: Sequence[NightStatus],
    figures: dict[str, bytes],
    title: str,
    link_prefix: str = "../",
    captions: Mapping[str, str] | None = None,
) -> str:
    """history.html, self-contained: figures as data URIs; rows newest first; links relative to history/."""
    esc, captions = html.escape, {**FIGURES, **(captions or {})}
    body = [f"<h1>{esc(title)}</h1>", '<nav><a href="#trend">Trend</a> <a href="#runs">Runs</a></nav>']
    body += [
        '<section id="trend"><ul>',
        *(f"<li>{esc(line)}</li>" for line in nights_in_brief(rows)),
        "</ul>",
    ]
    body += [_figure(name, png, captions.get(name, name)) for name, png in figures.items()]
    body += ["</section>", '<section id="runs"><h2>Runs, newest first</h2>', "<table><thead><tr>"]
    body += [f'<th class="nowrap">{esc(header)}</th>' for header, _ in COLUMNS]
    body += ["</tr></thead><tbody>", *(table_row(row, link_prefix) for row in rows), "</tbody></table>"]
    body.append("</section>")
    head = page_head(title)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>\n'
        + "\n".join(body)
        + "\n</body></html>\n"
    )
