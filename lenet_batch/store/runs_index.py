"""The runs of an output, from their small records only: runs/<id>/run.json and summary/summary.json.

Never a Parquet file, a model or a cluster: listing a thousand nights reads two small JSON files each,
fetched many at a time on object stores.
"""

import datetime as dt
import logging
import re
from dataclasses import dataclass

from lenet_batch.checks import RUN_ID_PATTERN
from lenet_batch.errors import DataError
from lenet_batch.provenance import parse_utc
from lenet_batch.store import record_reads, storage
from lenet_batch.store.layout import Layout
from lenet_batch.store.record_reads import printable
from lenet_batch.store.run_record import RunRecord

log = logging.getLogger(__name__)

DATE_ID = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class RunFiles:
    """One run's records as read: run.json, summary.json as its JSON object (the summary's types are read
    by the history), both None when absent or unreadable, and what was wrong with them."""

    run_id: str
    record: RunRecord | None
    summary: dict | None = None
    problems: tuple[str, ...] = ()

    @property
    def created_at(self) -> str:
        """When the run was started ("" when unknown: such runs sort first, by id)."""
        return (self.record.created_at if self.record else None) or ""

    def order_key(self) -> tuple[str, str, str]:
        """The run's place in night order (see night_key)."""
        return night_key(self.run_id, self.created_at)


def night_key(run_id: str, created_at: str | None) -> tuple[str, str, str]:
    """Night order, the one order of runs in an output (baseline, runs, check, history.html, runs.parquet):

    a run whose id is a date (YYYY-MM-DD, the nightly's default) is the night of that date and sorts as if
    started at 00:00 UTC that day, whenever it actually ran; any other run sorts by when it was started
    (run.json's created_at); ties go by start time, then by id. So a night backfilled on 2026-12-03 with
    --run-id 2026-12-01 sits between 2026-11-30 and 2026-12-02 and is compared with 2026-11-30, and a run
    without a readable start time (missing, or not an ISO-8601 time such as "yesterday") sorts first.
    """
    started = utc_order(created_at)
    night = f"{run_id}T00:00:00.000000Z" if is_date_id(run_id) else started
    return (night, started, run_id)


def utc_order(created_at: str | None) -> str:
    """An ISO-8601 time as UTC text that sorts in time order; "" (unknown) when missing or not a time."""
    when = parse_utc(created_at)
    if when is None:
        return ""
    try:
        return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    except OverflowError:  # year 1 with an offset east of UTC
        return ""


def is_date_id(run_id: str) -> bool:
    """True for a run id that is a calendar date (YYYY-MM-DD)."""
    if not DATE_ID.fullmatch(run_id):
        return False
    try:
        dt.date.fromisoformat(run_id)
    except ValueError:
        return False
    return True


def run_ids(layout: Layout) -> list[str]:
    """The names under <output>/runs, each a run folder or reported as damaged: every name but hidden ones
    (a leading '.': temporaries, editors' and the OS's files), odd ones included (read_records says why)."""
    return [name for name in storage.list_dir(layout.runs_root(), layout.options) if not name.startswith(".")]


def _name_problem(run_id: str) -> str | None:
    if RUN_ID_PATTERN.fullmatch(run_id):
        return None
    return (
        f"runs/{printable(run_id)}: the folder name is not a run id (letters, digits, '.', '_', '-', at "
        "most 64, starting with a letter or digit): no command can name it; rename the folder"
    )


def _read_runs(layout: Layout, names: list[str]) -> tuple[list[RunFiles], int]:
    """Each named folder's run.json read (empty folders left out: they are not nights), and how many were."""
    refs = [layout.run(name) for name in names]
    reads = record_reads.read_small_many([r.run_json for r in refs], layout.options)
    parsed = {r.run_id: record_reads.parse_object(r.run_json, reads[r.run_json]) for r in refs}
    absent = {r.run_dir: r.run_id for r in refs if parsed[r.run_id] == (None, None)}
    empty = {absent[uri] for uri in record_reads.empty_folders(absent, layout.options)}
    runs = []
    for ref in refs:
        if ref.run_id in empty:
            continue
        doc, problem = parsed[ref.run_id]
        record, problem = _run_record(ref.run_json, ref.run_id, doc, problem)
        problems = tuple(printable(p) for p in (_name_problem(ref.run_id), problem) if p)
        runs.append(RunFiles(ref.run_id, record, None, problems))
    return runs, len(empty)


def read_records(
    layout: Layout, last: int | None = None, summaries: bool = True, warn: bool = True
) -> list[RunFiles]:
    """Every run (or the `last` newest) with its run.json and summary.json, newest first.

    Never fails for one run: a damaged record, an odd folder name, is one of that run's problems. Empty
    folders are not runs: left out, with one line saying how many when `warn`.
    """
    runs, n_empty = _read_runs(layout, run_ids(layout))
    runs.sort(key=RunFiles.order_key, reverse=True)
    runs = runs[:last] if last is not None else runs
    if summaries:
        runs = _with_summaries(layout, runs)
    if warn and n_empty:
        log.warning("%d empty folder(s) under %s left out: not runs", n_empty, layout.runs_root())
    return runs


def _run_record(
    uri: str, run_id: str, doc: dict | None, problem: str | None
) -> tuple[RunRecord | None, str | None]:
    """run.json as a RunRecord of this folder's run, or None and what is wrong with it."""
    if doc is None:
        return None, problem or f"{uri}: not found"
    try:
        record = RunRecord.from_json(doc, uri)
    except DataError as exc:
        return None, str(exc)
    if record.run_id != run_id:
        return None, f"{uri}: records run {record.run_id!r}, not the folder's {run_id!r}"
    return record, None


def _with_summaries(layout: Layout, runs: list[RunFiles]) -> list[RunFiles]:
    """The runs with their summary.json added where it exists."""
    uris = {run.run_id: layout.run(run.run_id).summary_json for run in runs}
    reads = record_reads.read_small_many(list(uris.values()), layout.options)
    out = []
    for run in runs:
        uri = uris[run.run_id]
        summary, problem = record_reads.parse_object(uri, reads[uri])
        problems = run.problems + ((printable(problem),) if problem else ())
        out.append(RunFiles(run.run_id, run.record, summary, problems))
    return out


def newest_run_id(layout: Layout) -> str | None:
    """The newest night in night order (by date, no record read, when every run id is a date)."""
    ids = run_ids(layout)
    if ids and all(is_date_id(i) for i in ids):
        for run_id in sorted(ids, reverse=True):  # empty folders are not nights
            if not record_reads.empty_folders([layout.run(run_id).run_dir], layout.options):
                return run_id
        return None
    runs = read_records(layout, last=1, summaries=False, warn=False)
    return runs[0].run_id if runs else None
