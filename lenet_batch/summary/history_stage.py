"""Rebuild <output>/history/: runs.parquet, the trend PNGs and history.html from the runs' small records."""

import io
import logging
from typing import Any

import pyarrow.parquet as pq

from lenet_batch.provenance import now_utc
from lenet_batch.store import runs_index, storage
from lenet_batch.store.layout import Layout
from lenet_batch.summary import history, history_figures, history_report, runs_table

log = logging.getLogger(__name__)


def _parquet(table: Any) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def build_history(layout: Layout) -> dict[str, Any]:
    """Write history/{runs.parquet, *.png, history.html}, each atomically, the page last; what was written."""
    runs = runs_index.read_records(layout)  # newest first
    rows = history.run_rows(runs)
    oldest_first = list(reversed(runs))
    names, matrix = history.per_class_matrix(oldest_first)
    pngs = history_figures.build_figures(list(reversed(rows)), names, matrix) if rows else {}
    folder, options = layout.history_dir(), layout.options
    for name, png in pngs.items():
        storage.write_bytes_atomic(storage.join(folder, name), png, options)
    table = runs_table.runs_table(runs)
    parquet_uri, html_uri = storage.join(folder, "runs.parquet"), storage.join(folder, "history.html")
    storage.write_bytes_atomic(parquet_uri, _parquet(table), options)
    page = history_report.render_html(rows, pngs, title=f"lenet-batch history of {layout.output}")
    storage.write_bytes_atomic(html_uri, page.encode(), options)
    log.info("history: %d run(s), %d seed row(s) -> %s", len(rows), table.num_rows, html_uri)
    return {
        "runs": len(rows),
        "seed_rows": table.num_rows,
        "history_html": html_uri,
        "runs_parquet": parquet_uri,
        "figures": [storage.join(folder, name) for name in pngs],
        "latest": rows[0] if rows else None,
        "generated_at": now_utc(),
    }
