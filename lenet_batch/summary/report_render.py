"""The report rendered twice from the same sections (templates in lenet_batch/pages): report.html,
self-contained (figures as data URIs, each linking its PNG beside the report; no scripts, nothing fetched),
and report.md, with the PNG files beside it linked by name."""

from collections.abc import Mapping

from lenet_batch import pages
from lenet_batch.summary.figures import Figure
from lenet_batch.summary.report_sections import sections
from lenet_batch.summary.types import RunSummary

# Where history.html is from a report (<output>/runs/<id>/summary/report.html): every nightly rebuilds it.
HISTORY_LINK = "../../../history/history.html"


def render_html(summary: RunSummary, figures: Mapping[str, Figure]) -> str:
    """report.html, self-contained: the figures are embedded as base64 data URIs."""
    parts = sections(summary, figures)
    title = f"lenet-batch run {summary.run_id}"
    return pages.render(
        "report.html",
        title=title,
        run_id=summary.run_id,
        sections=parts,
        figures=figures,
        history_link=HISTORY_LINK,
    )


def render_markdown(summary: RunSummary, figures: Mapping[str, Figure]) -> str:
    """report.md: the sections in reading order, figures by their file names beside it."""
    return pages.render(
        "report.md", run_id=summary.run_id, sections=sections(summary, figures), figures=figures
    )
