"""The runs of an output: their folder names under runs/, and night order, the one order of runs."""

import datetime as dt
import re

from lenet_batch.checks import RUN_ID_PATTERN
from lenet_batch.provenance import parse_utc
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from lenet_batch.store.record_reads import printable

DATE_ID = re.compile(r"\d{4}-\d{2}-\d{2}")


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


def name_problem(run_id: str) -> str | None:
    """Why a folder under runs/ cannot be a run (None: its name is a run id)."""
    if RUN_ID_PATTERN.fullmatch(run_id):
        return None
    return (
        f"runs/{printable(run_id)}: the folder name is not a run id (letters, digits, '.', '_', '-', at "
        "most 64, starting with a letter or digit): no command can name it; rename the folder"
    )
