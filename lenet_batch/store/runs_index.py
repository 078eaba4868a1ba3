"""The runs of an output, from their small records only: runs/<id>/run.json and summary/summary.json.

Never a Parquet file, a model or a cluster: listing a thousand nights reads two small JSON files each,
fetched many at a time on object stores.
"""

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass

from lenet_batch.checks import RUN_ID_PATTERN
from lenet_batch.errors import DataError
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
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


def night_key(run_id: str, created_at: str) -> tuple[str, str, str]:
    """Night order, the one order of runs in an output (baseline, `runs`, history.html, runs.parquet):

    a run whose id is a date (YYYY-MM-DD, the nightly's default) is the night of that date and sorts as if
    started at 00:00 UTC that day, whenever it actually ran; any other run sorts by when it was started
    (run.json's created_at); ties go by start time, then by id. So a night backfilled on 2026-12-03 with
    --run-id 2026-12-01 sits between 2026-11-30 and 2026-12-02 and is compared with 2026-11-30, and a run
    without a readable start time sorts first.
    """
    night = f"{run_id}T00:00:00Z" if _is_date(run_id) else created_at
    return (night, created_at, run_id)


def _is_date(run_id: str) -> bool:
    if not DATE_ID.fullmatch(run_id):
        return False
    try:
        dt.date.fromisoformat(run_id)
    except ValueError:
        return False
    return True


def run_ids(layout: Layout) -> list[str]:
    """The run folders under <output>/runs (names that are valid run ids; temporary files left out)."""
    return [
        name
        for name in storage.list_dir(layout.runs_root(), layout.options)
        if RUN_ID_PATTERN.fullmatch(name)
    ]


def _json_object(uri: str, raw: bytes | None) -> tuple[dict | None, str | None]:
    """A JSON object, or None and what is wrong with the file."""
    if raw is None:
        return None, None
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        return None, f"{uri}: not valid JSON ({exc})"
    except RecursionError:
        return None, f"{uri}: nested too deeply to read"
    if not isinstance(doc, dict):
        return None, f"{uri}: expected a JSON object, found {type(doc).__name__}"
    return doc, None


def _read_json_many(uris: list[str], options: dict) -> dict[str, tuple[dict | None, str | None]]:
    raw = storage.read_many(uris, options)
    return {uri: _json_object(uri, raw.get(uri)) for uri in uris}


def read_records(
    layout: Layout, last: int | None = None, summaries: bool = True, warn: bool = True
) -> list[RunFiles]:
    """Every run (or the `last` newest) with its run.json and summary.json, newest first.

    Unreadable records are logged when `warn` (the baseline's choice reports them in its reason instead).
    """
    refs = [layout.run(run_id) for run_id in run_ids(layout)]
    records = _read_json_many([r.run_json for r in refs], layout.options)
    runs = []
    for ref in refs:
        doc, problem = records[ref.run_json]
        record, problem = _run_record(ref.run_json, doc, problem)
        runs.append(RunFiles(ref.run_id, record, None, (problem,) if problem else ()))
    runs.sort(key=RunFiles.order_key, reverse=True)
    runs = runs[:last] if last is not None else runs
    if summaries:
        runs = _with_summaries(layout, runs)
    for run in runs if warn else ():
        for problem in run.problems:
            log.warning("run %s: %s", run.run_id, problem)
    return runs


def _run_record(uri: str, doc: dict | None, problem: str | None) -> tuple[RunRecord | None, str | None]:
    """run.json as a RunRecord, or None and what is wrong with it."""
    if doc is None:
        return None, problem or f"{uri}: not found"
    try:
        return RunRecord.from_json(doc, uri), None
    except DataError as exc:
        return None, str(exc)


def _with_summaries(layout: Layout, runs: list[RunFiles]) -> list[RunFiles]:
    """The runs with their summary.json added where it exists."""
    uris = {run.run_id: layout.run(run.run_id).summary_json for run in runs}
    docs = _read_json_many(list(uris.values()), layout.options)
    out = []
    for run in runs:
        summary, problem = docs[uris[run.run_id]]
        problems = run.problems + ((problem,) if problem else ())
        out.append(RunFiles(run.run_id, run.record, summary, problems))
    return out
