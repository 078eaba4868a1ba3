"""history.html: the trend figures (embedded) and the runs table, each night linking its own report."""

import base64
import html
from collections import Counter
from collections.abc import Sequence

from lenet_batch.history.figures import FIGURES
from lenet_batch.history.rows import RunRow
from lenet_batch.summary.types import MIN_INTERVAL_SEEDS

COLUMNS = [
    "run",
    "started",
    "train",
    "infer",
    "summary",
    "seeds",
    "mean [95% CI]",
    "ensemble",
    "gate",
    "changed",
]
STYLE = (
    "body{font-family:sans-serif;max-width:1280px;margin:2em auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}img{max-width:100%}"
    "tr.regressed{background:#fde0dc}tr.failed,tr.incomplete{background:#fff0c2}"
    "td.gate{font-size:small;max-width:40em}"
)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _seeds(row: RunRow) -> str:
    return f"{row.seeds_ok}" + (f" + {row.seeds_failed} failed" if row.seeds_failed else "")


def _accuracy(row: RunRow) -> str:
    if row.mean_accuracy is None:
        return "—"
    ci = "" if row.ci95_low is None else f" [{_num(row.ci95_low)}, {_num(row.ci95_high)}]"
    if row.ci95_low is None and 0 < row.seeds_ok < MIN_INTERVAL_SEEDS:
        ci = " (too few seeds for an interval)"
    return _num(row.mean_accuracy) + ci


def _gate(row: RunRow) -> str:
    if row.state in ("failed", "incomplete") and row.gate is None:
        return row.state.upper() + "".join(f": {p}" for p in row.problems)
    return row.gate_sentence or "—"


def table_row(row: RunRow, link_prefix: str) -> str:
    """One night as a table row; its run id links its report (relative to history.html) when it has one."""
    esc = html.escape
    run = esc(row.run_id)
    if row.report:
        run = f'<a href="{esc(link_prefix + row.report, quote=True)}">{run}</a>'
    cells = [
        run,
        esc(row.created_at or "—"),
        *(esc(getattr(row, stage) or "—") for stage in ("train", "infer", "summary")),
        esc(_seeds(row)),
        esc(_accuracy(row)),
        esc(_num(row.ensemble_accuracy)),
    ]
    body = "".join(f"<td>{c}</td>" for c in cells) + f'<td class="gate">{esc(_gate(row))}</td>'
    body += f'<td class="changed">{esc(row.changes_text() or "—")}</td>'  # since the baseline
    return f'<tr class="{esc(row.state)}">{body}</tr>'


def nights_in_brief(rows: Sequence[RunRow]) -> list[str]:
    """How many nights, from when to when, how many in each state, and the last night's verdict."""
    if not rows:
        return ["No runs yet."]
    counts = Counter(r.state for r in rows)
    states = ", ".join(f"{counts[s]} {s}" for s in ("ok", "regressed", "failed", "incomplete") if counts[s])
    newest, oldest = rows[0], rows[-1]
    return [
        f"{len(rows)} night(s) from {oldest.run_id} to {newest.run_id}: {states}.",
        f"Last night, {newest.run_id}: {_gate(newest)}",
    ]


def render_history_html(
    rows: Sequence[RunRow], figures: dict[str, bytes], title: str, link_prefix: str = "../"
) -> str:
    """history.html, self-contained: figures as data URIs; rows newest first; links relative to history/."""
    esc = html.escape
    body = [f"<h1>{esc(title)}</h1>", "<ul>"]
    body += [f"<li>{esc(line)}</li>" for line in nights_in_brief(rows)] + ["</ul>"]
    for name, png in figures.items():
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        caption = esc(FIGURES.get(name, name))
        body.append(f'<figure><img src="{uri}" alt="{caption}"><figcaption>{caption}</figcaption></figure>')
    body += ["<h2>Runs, newest first</h2>", "<table>"]
    body.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in COLUMNS) + "</tr>")
    body += [table_row(row, link_prefix) for row in rows]
    body.append("</table>")
    head = f"<meta charset='utf-8'><title>{esc(title)}</title><style>{STYLE}</style>"
    return f"<!DOCTYPE html>\n<html><head>{head}</head><body>\n" + "\n".join(body) + "\n</body></html>\n"
