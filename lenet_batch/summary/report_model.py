"""The report as data: sections of paragraphs, figures and tables, which the HTML and Markdown render."""

from dataclasses import dataclass

VISIBLE_ROWS = 20  # table rows shown; the rest are folded away (<details> in HTML, a CSV link in Markdown)


@dataclass(frozen=True)
class Table:
    """A table; rows past `visible` are folded, and `links` point to the full list beside the report."""

    header: tuple[str, ...]
    rows: list[list[str]]
    title: str = ""
    visible: int = VISIBLE_ROWS
    noun: str = "rows"  # what the folded rows are: "the other 236 seeds"
    links: tuple[tuple[str, str], ...] = ()  # (text, href relative to the report)


@dataclass(frozen=True)
class Section:
    """A titled part of the report: a verdict, paragraphs, bullets, figures (by file name), tables."""

    title: str
    anchor: str
    verdict: tuple[str, str] | None = None  # (passed | regressed | na, sentence)
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()

    def is_empty(self) -> bool:
        """Nothing to show: the report leaves the section out."""
        return not (self.verdict or self.paragraphs or self.bullets or self.figures or self.tables)
