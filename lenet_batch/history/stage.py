"""The history stage: rebuild <output>/history/ (runs.parquet, the trend PNGs, history.html) from the runs'
small records, and list the nights for `lenet-batch runs`."""

import io
import logging
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from lenet_batch.history import figures, page, runs_table
from lenet_batch.history.rows import Night, RunRow, night_of, per_class_matrix, run_rows
from lenet_batch.json_records import JsonRecord
from lenet_batch.provenance import now_utc
from lenet_batch.store import runs_index, storage
from lenet_batch.store.layout import Layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryResult(JsonRecord):
    """What the history stage wrote, and the newest night's row."""

    runs: int
    seed_rows: int
    history_html: str
    runs_parquet: str
    figures: tuple[str, ...]
    latest: RunRow | None
    generated_at: str


def read_nights(layout: Layout, last: int | None = None) -> list[Night]:
    """Every run of the output (or the `last` newest) with its records read, newest first; each damaged
    one logged in one line."""
    nights = [night_of(run) for run in runs_index.read_records(layout, last=last)]
    for night in nights:
        if night.problems:
            log.warning("run %s is damaged: %s", night.run_id, "; ".join(night.problems))
    return nights


def list_runs(layout: Layout, last: int | None = None) -> list[RunRow]:
    """One row per run, newest first: what `lenet-batch runs` prints."""
    return run_rows(read_nights(layout, last))


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def build_history(layout: Layout) -> HistoryResult:
    """Write history/{runs.parquet, *.png, history.html}, each atomically, the page last; what was written."""
    nights = read_nights(layout)  # newest first
    rows = run_rows(nights)
    names, matrix = per_class_matrix(list(reversed(nights)))
    pngs = figures.draw_trend_figures(list(reversed(rows)), names, matrix) if rows else {}
    folder, options = layout.history_dir(), layout.options
    for name, png in pngs.items():
        storage.write_bytes_atomic(storage.join(folder, name), png, options)
    table = runs_table.runs_table(nights, rows)
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
