"""The output's health for monitors (`lenet-batch check`): one state, its exit code, and the line behind it.

It reads only small records: the heartbeat (_last_success.json), the lock (_lock.json), the listing of
runs/ and the newest night's run.json and summary.json. Neither MXNet nor Ray, nor Parquet.

States, most pressing first, and their exit codes (0 and 2 keep their meaning for every command):
- running (5): a live nightly holds the output's lock (as exit 5 means "another run holds the lock");
- failed (6): the newest night failed in a stage, was interrupted, or stopped without a word;
- seeds_failed (3): some of the newest night's seeds failed (the nightly itself exited 3);
- regressed (4): the newest night's gate found a regression (the nightly itself exited 4);
- stale (7): the newest night is fine but no night succeeded within --max-age (or none ever did, or the
  heartbeat is damaged: not JSON, or dated more than 10 minutes ahead of this host's clock);
- healthy (0): the newest night succeeded, and a night succeeded within --max-age.
"""

import datetime as dt
from dataclasses import dataclass, replace

from lenet_batch.errors import EXIT_OK, EXIT_STALE, DataError
from lenet_batch.json_records import JsonRecord
from lenet_batch.provenance import now_utc, parse_utc
from lenet_batch.state import listing
from lenet_batch.state.night import NightStatus, changed_line, night_status
from lenet_batch.state.outcome import EXIT_CODES as OUTCOME_EXIT_CODES
from lenet_batch.state.outcome import OK, RUNNING
from lenet_batch.state.run_state import light_state
from lenet_batch.store import found_files, record_reads, storage
from lenet_batch.store.heartbeat import Heartbeat
from lenet_batch.store.layout import Layout
from lenet_batch.store.lock import Holder, holder
from lenet_batch.units import format_duration

HEALTHY, STALE = "healthy", "stale"
STATES = (HEALTHY, STALE, "failed", "seeds_failed", "regressed", "inconclusive", RUNNING)
# The state each outcome of the newest night (state/outcome.py) puts the output in; damaged and
# interrupted nights are failed ones, named with their reason.
STATE_OF = {outcome: outcome for outcome in STATES[2:]} | {"damaged": "failed", "interrupted": "failed"}
EXIT_CODES = {HEALTHY: EXIT_OK, STALE: EXIT_STALE} | {s: OUTCOME_EXIT_CODES[s] for s in STATES[2:]}


@dataclass(frozen=True)
class Health(JsonRecord):
    """What `check` found: the state, its exit code, one line, and what it was read from."""

    output: str
    state: str  # one of STATES
    exit_code: int
    message: str
    checked_at: str
    max_age_seconds: float
    last_success: Heartbeat | None = None
    last_success_age_seconds: float | None = None
    night: NightStatus | None = None  # the newest night (None: no runs yet)
    lock: Holder | None = None
    report_url: str | None = None  # the newest night's report.html as a link (--report-base-url)
    history_url: str | None = None  # history.html as a link (--report-base-url)


def _age(when: str | None, now: dt.datetime) -> float | None:
    """Seconds since an ISO-8601 time (None when missing or not a time); never negative (a time a little
    ahead of this host's clock is believed as now: a time far ahead is not believed at all)."""
    then = parse_utc(when)
    return None if then is None else round(max((now - then).total_seconds(), 0.0), 1)


def read_night(layout: Layout, run_id: str, running: bool = False) -> NightStatus:
    """One night's status from its run.json and summary.json (read at once), as every reader sees it."""
    run = layout.run(run_id)
    reads = record_reads.read_small_many([run.run_json, run.summary_json], layout.options)
    return night_status(light_state(run, reads[run.run_json], reads[run.summary_json]), running)


def read_heartbeat(layout: Layout) -> tuple[Heartbeat | None, str | None]:
    """_last_success.json, or None and what is wrong with it (None, None: absent)."""
    uri = layout.heartbeat()
    doc, problem = record_reads.parse_object(uri, record_reads.read_small_many([uri], layout.options)[uri])
    if doc is None:
        return None, problem
    try:
        beat = Heartbeat.from_json(doc, uri)
    except DataError as exc:
        return None, str(exc)
    finished = parse_utc(beat.finished_at)
    lead = found_files.ahead(finished) if finished is not None else ""
    if lead:  # a clock is wrong: believed, it would read healthy for ever and never go stale
        return None, (
            f"{uri} is damaged: its finished_at {beat.finished_at} lies {lead} ahead of this host's clock; "
            "check the clocks of this host and of the one that wrote it, then delete the file (the next "
            "good night writes it again)"
        )
    return beat, None


def assess(layout: Layout, max_age_seconds: float, stale_lock_seconds: int) -> Health:
    """The output's health now; DataError (exit 2) when the output does not exist."""
    if not storage.exists(layout.output, layout.options):
        raise DataError(f"--output {layout.output}: not found (no runs have been written there)")
    heartbeat, bad_heartbeat = read_heartbeat(layout)
    found = holder(layout, stale_lock_seconds)
    live = found is not None and not found.stale
    newest = listing.newest_run_id(layout)
    running = live and found is not None and found.run_id == newest
    night = read_night(layout, newest, running) if newest else None
    return health_of(layout, night, (heartbeat, bad_heartbeat), max_age_seconds, found)


def health_of(
    layout: Layout,
    night: NightStatus | None,
    heartbeat: tuple[Heartbeat | None, str | None],
    max_age_seconds: float,
    lock: Holder | None = None,
) -> Health:
    """The health of an output whose newest night, heartbeat (and why it does not read) and lock are
    these: what `check` says, and what the nightly tells the metrics file from what it holds."""
    beat, bad_heartbeat = heartbeat
    age = _age(beat.finished_at, dt.datetime.now(dt.UTC)) if beat else None
    live = lock is not None and not lock.stale
    if lock is not None and lock.age_seconds < 0:  # dated ahead of this clock: no negative age is shown
        lock = replace(lock, age_seconds=0.0)
    state = _state(night, live, age, max_age_seconds)
    health = Health(
        output=layout.output,
        state=state,
        exit_code=EXIT_CODES[state],
        message="",
        checked_at=now_utc(),
        max_age_seconds=max_age_seconds,
        last_success=beat,
        last_success_age_seconds=age,
        night=night,
        lock=lock,
    )
    return _with_message(health, bad_heartbeat)


def _state(night: NightStatus | None, live_lock: bool, age: float | None, max_age: float) -> str:
    if live_lock:
        return RUNNING
    if night is not None and night.outcome != OK:
        return STATE_OF[night.outcome]
    if age is None or age > max_age or night is None:
        return STALE
    return HEALTHY


def _hours(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds / 3600:.1f} h ago"


def _with_message(h: Health, bad_heartbeat: str | None) -> Health:
    """The health with its one line for people (what the CLI prints, what the webhook would say)."""
    beat = h.last_success
    success = f"last success: {_hours(h.last_success_age_seconds)}" + (
        f" (run {beat.run_id} at {beat.finished_at})" if beat else ""
    )
    if bad_heartbeat:
        success = f"last success: unknown: the heartbeat does not read: {bad_heartbeat}"
    n = h.night
    if h.state == "running" and h.lock is not None:
        held = h.lock
        who = f"run {held.run_id} (host {held.host}, pid {held.pid})"
        text = f"{who} holds the lock for {held.age_seconds / 60:.0f} min; {success}"
        if held.problem:
            text = f"the lock does not read ({held.problem}) and is not stale yet; {success}"
    elif h.state == "stale":
        limit = format_duration(h.max_age_seconds)
        newest = f"; newest run {n.run_id}: {n.outcome}" if n else "; no runs yet"
        text = f"no night succeeded within {limit}: {success}{newest}"
    elif h.state == "healthy" and n is not None:
        text = f"{n.headline or f'run {n.run_id}: ok'}; {success}"  # the headline names the run
    else:
        where = f" in stage {n.stage}" if n and n.stage and h.state == "failed" else ""
        changed = changed_line(n) if n else None
        said = f"{n.reason}; {changed}" if n and changed else n.reason if n else ""
        text = f"run {n.run_id if n else '?'}{where}: {said}; {success}"
    return replace(h, message=f"{h.state}: {text}")
