"""The pages' templates (report.html, report.md, history.html in templates/, package data): one jinja2
environment, autoescaping the HTML ones, with the few filters they share.

A verdict or a night's state is shown as a chip coloured through TONES, one table for every word; a word it
does not know (a verdict or a state added later) is shown as it is, in the neutral colour.
"""

import base64
import re
import struct
from functools import cache

import jinja2
from markupsafe import Markup, escape

# A verdict or state word -> the colour class of its chip (and of its row in the history); default neutral.
TONES = {
    "passed": "good",
    "ok": "good",
    "regressed": "bad",
    "failed": "bad",
    "seeds_failed": "bad",
    "inconclusive": "warn",
    "drift": "bad",  # a regression since the reference night
    "damaged": "warn",
    "interrupted": "warn",
    "running": "info",
}
MARKS = {"good": "✅", "bad": "❌"}  # report.md's chip; any other tone: ➖
# A table cell that reads as a number (an em dash for a missing one, a duration): aligned right.
NUMBER = re.compile(r"[+-]?[\d,]*\.?\d+(e[+-]?\d+)?( (s|h|min( \d+ s)?))?|—")


def tone(word: str | None) -> str:
    """The colour class of a verdict or state word: good, bad, warn, info, else neutral."""
    return TONES.get(word or "", "neutral")


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, so that the page lays out before its images decode."""
    return struct.unpack(">II", png[16:24])


def data_uri(png: bytes) -> str:
    """A PNG embedded in the page: nothing is fetched."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def breakable(text: str) -> Markup:
    """Text (a path or URI) that may break after each '/', and nowhere else unless it must."""
    return Markup("/<wbr>").join(escape(part) for part in str(text).split("/"))


def md_cell(text: object) -> str:
    """A Markdown table cell: a '|' inside it does not end the cell."""
    return str(text).replace("|", "\\|")


@cache
def environment() -> jinja2.Environment:
    """The templates' environment: HTML autoescaped, undefined names an error, the shared filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lenet_batch.pages"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        tone=tone,
        mark=lambda word: MARKS.get(tone(word), "➖"),
        words=lambda word: str(word).replace("_", " "),
        png_size=png_size,
        data_uri=data_uri,
        breakable=breakable,
        md_cell=md_cell,
    )
    env.tests["numeric"] = lambda text: bool(NUMBER.fullmatch(str(text)))
    return env


def render(template: str, **context: object) -> str:
    """One page from its template (e.g. 'report.html') and what it shows."""
    return environment().get_template(template).render(**context)
