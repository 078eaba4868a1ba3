"""report.md: the same sections as report.html, with the PNG files beside it linked by relative name."""

from collections.abc import Mapping
from typing import Any

from lenet_batch.summary.figures import Figure
from lenet_batch.summary.report_model import Section, Table
from lenet_batch.summary.report_sections import sections

VERDICT_MARK = {"passed": "✅", "regressed": "❌", "na": "➖"}


def _cells(row: list[str] | tuple[str, ...]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"


def _table(t: Table) -> list[str]:
    """A Markdown table of the first `visible` rows; a line says where the rest is."""
    out = ["", f"**{t.title}**", ""] if t.title else [""]
    out += [_cells(t.header), "|" + "---|" * len(t.header)]
    out += [_cells(row) for row in t.rows[: t.visible]]
    links = ", ".join(f"[{text}]({href})" for text, href in t.links)
    if len(t.rows) > t.visible:
        where = f": {links}" if links else " in report.html"
        out += ["", f"*{len(t.rows) - t.visible:,} more {t.noun} not shown here{where}.*"]
    elif links:
        out += ["", f"Full list: {links}."]
    return out


def _section(section: Section, figures: Mapping[str, Figure]) -> list[str]:
    out = ["", f"## {section.title}", ""]
    out += [f"**{p}**" if section.anchor == "headline" else p for p in section.paragraphs]
    if section.verdict:
        status, sentence = section.verdict
        out += ["", f"{VERDICT_MARK.get(status, '')} **{sentence}**"]
    if section.bullets:
        out += ["", *(f"- {b}" for b in section.bullets)]
    for name in section.figures:
        out += ["", f"![{name.removesuffix('.png')}]({name})", "", f"*{figures[name].caption}*"]
    for table in section.tables:
        out += _table(table)
    return out


def render_markdown(summary: dict[str, Any], figures: Mapping[str, Figure]) -> str:
    """report.md: the sections in reading order, figures by their file names beside it."""
    out = [f"# lenet-batch run {summary['run_id']}"]
    for section in sections(summary, figures):
        out += _section(section, figures)
    return "\n".join(out) + "\n"
