"""The history stage: rebuild <output>/history/ (runs.parquet, the trend PNGs, history.html) from the nights'
small records, and list the nights for `lenet-batch runs`."""

import io
import logging
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from lenet_batch.history import figures, page, runs_table
from lenet_batch.history.rows import night_rows, per_class_matrix
from lenet_batch.json_records import JsonRecord
from lenet_batch.provenance import now_utc
from lenet_batch.state import listing
from lenet_batch.state.night import NightStatus
from lenet_batch.state.run_state import RunState
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryResult(JsonRecord):
    """What the history stage wrote, and the newest night's status."""

    runs: int
    seed_rows: int
    history_html: str
    runs_parquet: str
    figures: tuple[str, ...]
    latest: NightStatus | None
    generated_at: str


def list_runs(layout: Layout, last: int | None = None) -> list[NightStatus]:
    """One status per night, newest first: what `lenet-batch runs` prints."""
    return night_rows(listing.read_nights(layout, last))


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _nights(layout: Layout, tonight: RunState | None, others: listing.Nights | None) -> list[RunState]:
    """Every night, newest first; tonight's as the nightly holds it in memory, and the others as it has
    read them (no record is read twice)."""
    if tonight is None:
        return listing.read_nights(layout)
    nights = (others or listing.Nights(layout, skip=tonight.run_id)).all()
    return sorted([*nights, tonight], key=listing.order_key, reverse=True)


def build_history(
    layout: Layout, tonight: RunState | None = None, others: listing.Nights | None = None
) -> HistoryResult:
    """Write history/{runs.parquet, *.png, history.html}, each atomically, the page last; what was written.
    `tonight`: the night the nightly just ran, as its owner holds it; `others`: the other nights as it read
    them (neither is read again)."""
    states = _nights(layout, tonight, others)  # newest first
    rows = night_rows(states)
    names, matrix = per_class_matrix(list(reversed(states)))
    pngs = figures.draw_trend_figures(list(reversed(rows)), names, matrix) if rows else {}
    folder, options = layout.history_dir(), layout.options
    for name, png in pngs.items():
        storage.write_bytes_atomic(storage.join(folder, name), png, options)
    table = runs_table.runs_table(states, rows)
    parquet_uri, html_uri = storage.join(folder, "runs.parquet"), storage.join(folder, "history.html")
    storage.write_bytes_atomic(parquet_uri, _parquet(table), options)
    captions = figures.trend_captions(list(reversed(rows)), names, matrix)
    html = page.render_history_html(rows, pngs, f"lenet-batch history of {layout.output}", captions=captions)
    storage.write_bytes_atomic(html_uri, html.encode(), options)
    log.info("history: %d run(s), %d seed row(s) -> %s", len(rows), table.num_rows, html_uri)
    return HistoryResult(
        runs=len(rows),
        seed_rows=table.num_rows,
        history_html=html_uri,
        runs_parquet=parquet_uri,
        figures=tuple(storage.join(folder, name) for name in pngs),
        latest=rows[0] if rows else None,
        generated_at=now_utc(),
    )
