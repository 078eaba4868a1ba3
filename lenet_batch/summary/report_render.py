"""The report rendered twice from the same sections: report.html, self-contained (figures as data URIs, no
scripts, nothing fetched), and report.md, with the PNG files beside it linked by relative name."""

import base64
import html
import re
import struct
from collections.abc import Mapping

from lenet_batch.summary.figures import Figure
from lenet_batch.summary.report import Section, Table
from lenet_batch.summary.report_sections import sections
from lenet_batch.summary.style import page_head
from lenet_batch.summary.types import RunSummary


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, so the page lays out before images decode."""
    return struct.unpack(">II", png[16:24])


NUMBER = re.compile(r"[+-]?[\d,]*\.?\d+(e[+-]?\d+)?|—")


def _html_cell(text: str) -> str:
    """A table cell; numbers (and the em dash of a missing one) align right."""
    cls = ' class="num"' if NUMBER.fullmatch(text) else ""
    return f"<td{cls}>{html.escape(text)}</td>"


def _rows(rows: list[list[str]]) -> str:
    return "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in rows)


def _columns(t: Table) -> str:
    """Column widths in proportion to their longest content, shared by a folded table's two parts."""
    longest = [
        max([len(w) for w in t.header[i].split()] + [len(row[i]) for row in t.rows] + [3])
        for i in range(len(t.header))
    ]
    return (
        "<colgroup>"
        + "".join(f'<col style="width:{100 * n / sum(longest):.1f}%">' for n in longest)
        + "</colgroup>"
    )


def _anchor(text: str, href: str) -> str:
    return f'<a href="{html.escape(href, quote=True)}">{html.escape(text)}</a>'


def _html_table(t: Table) -> list[str]:
    """A table; past `visible` rows the rest goes into a <details> block below the first rows."""
    folded = len(t.rows) > t.visible
    head = "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in t.header) + "</tr></thead>"
    cls = ' class="folded"' if folded else ""
    caption = f"<caption>{html.escape(t.title)}</caption>" if t.title else ""
    cols = _columns(t) if folded else ""
    out = [f"<table{cls}>{caption}{cols}{head}<tbody>{_rows(t.rows[: t.visible])}</tbody></table>"]
    if folded:
        rest = len(t.rows) - t.visible
        out.append(
            f"<details><summary>show the other {rest:,} {html.escape(t.noun)}</summary>"
            f"<table{cls}>{cols}{head}<tbody>{_rows(t.rows[t.visible :])}</tbody></table></details>"
        )
    if t.links:
        links = " · ".join(_anchor(text, href) for text, href in t.links)
        out.append(f'<p class="links">Full list beside this report: {links}</p>')
    return out


def _html_figure(name: str, figure: Figure) -> str:
    uri = "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")
    width, height = png_size(figure.png)
    caption = html.escape(figure.caption)
    return (
        f'<figure id="{html.escape(name)}"><img src="{uri}" width="{width}" height="{height}" '
        f'alt="{caption}"><figcaption>{caption}</figcaption></figure>'
    )


def _html_section(section: Section, figures: Mapping[str, Figure]) -> list[str]:
    out = [f'<section id="{section.anchor}"><h2>{html.escape(section.title)}</h2>']
    if section.anchor == "headline":  # the headline's sentence is the page's lead, not a paragraph
        out = [f'<section id="{section.anchor}">']
        out += [f'<p class="lead">{html.escape(p)}</p>' for p in section.paragraphs]
    else:
        out += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    if section.links:
        out.append(
            '<p class="links">' + " · ".join(_anchor(text, href) for text, href in section.links) + "</p>"
        )
    if section.verdict:
        status, sentence = section.verdict
        out.append(f'<p><span class="verdict {status}">{html.escape(sentence)}</span></p>')
    if section.bullets:
        out.append("<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in section.bullets) + "</ul>")
    out += [_html_figure(name, figures[name]) for name in section.figures]
    for table in section.tables:
        out += _html_table(table)
    return [*out, "</section>"]


# Where history.html is from a report (<output>/runs/<id>/summary/report.html): every nightly rebuilds it.
HISTORY_LINK = "../../../history/history.html"


def render_html(summary: RunSummary, figures: Mapping[str, Figure]) -> str:
    """report.html, self-contained: the figures are embedded as base64 data URIs."""
    title = f"lenet-batch run {summary.run_id}"
    parts = sections(summary, figures)
    nav = " ".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in parts[1:])
    every = f'<p class="links">Every night of this output: {_anchor("history.html", HISTORY_LINK)}</p>'
    body = [f"<h1>{html.escape(title)}</h1>", f"<nav>{nav}</nav>", every]
    for section in parts:
        body += _html_section(section, figures)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head>{page_head(title)}</head><body>\n'
        + "\n".join(body)
        + "\n</body></html>\n"
    )


# report.md: the same sections in Markdown, the figures linked as the PNG files beside it.

VERDICT_MARK = {"passed": "✅", "regressed": "❌", "na": "➖"}


def _markdown_cells(row: list[str] | tuple[str, ...]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"


def _markdown_table(t: Table) -> list[str]:
    """A Markdown table of the first `visible` rows; a line says where the rest is."""
    out = ["", f"**{t.title}**", ""] if t.title else [""]
    out += [_markdown_cells(t.header), "|" + "---|" * len(t.header)]
    out += [_markdown_cells(row) for row in t.rows[: t.visible]]
    links = ", ".join(f"[{text}]({href})" for text, href in t.links)
    if len(t.rows) > t.visible:
        where = f": {links}" if links else " in report.html"
        out += ["", f"*{len(t.rows) - t.visible:,} more {t.noun} not shown here{where}.*"]
    elif links:
        out += ["", f"Full list: {links}."]
    return out


def _markdown_section(section: Section, figures: Mapping[str, Figure]) -> list[str]:
    out = ["", f"## {section.title}", ""]
    out += [f"**{p}**" if section.anchor == "headline" else p for p in section.paragraphs]
    if section.links:
        out += ["", " · ".join(f"[{text}]({href})" for text, href in section.links)]
    if section.verdict:
        status, sentence = section.verdict
        out += ["", f"{VERDICT_MARK.get(status, '')} **{sentence}**"]
    if section.bullets:
        out += ["", *(f"- {b}" for b in section.bullets)]
    for name in section.figures:
        out += ["", f"![{name.removesuffix('.png')}]({name})", "", f"*{figures[name].caption}*"]
    for table in section.tables:
        out += _markdown_table(table)
    return out


def render_markdown(summary: RunSummary, figures: Mapping[str, Figure]) -> str:
    """report.md: the sections in reading order, figures by their file names beside it."""
    out = [f"# lenet-batch run {summary.run_id}"]
    for section in sections(summary, figures):
        out += _markdown_section(section, figures)
    return "\n".join(out) + "\n"
