"""Which run tonight's is compared with: an explicit run id, the previous good night (default), or none.

"previous" is the nearest earlier night in night order (store.runs_index.night_key: date ids by date, other
ids by start time) whose outcome is ok (state/outcome.py: every stage complete, the gate passed or had
nothing to compare with) and that was scored on the same test split (records.digest_of_test_split; a run
that recorded none is not excluded). It depends only on earlier nights, so a summary rerun by hand after
the nightly compares with the same baseline and reaches the same verdict, unless an earlier night was
backfilled since: then the rerun compares with that one.
"""

import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from lenet_batch.config import BASELINE_PREVIOUS
from lenet_batch.errors import ConfigError, DataError
from lenet_batch.state import listing
from lenet_batch.state.damage import checked_summary
from lenet_batch.state.manifest import changes_text
from lenet_batch.state.outcome import GATE_OUTCOMES, OK, night_outcome
from lenet_batch.state.run_state import RunState
from lenet_batch.store import record_reads
from lenet_batch.store.layout import RunRef
from lenet_batch.summary.types import RunSummary

log = logging.getLogger(__name__)

PREVIOUS = BASELINE_PREVIOUS  # the default: the latest earlier good night
NO_BASELINE = ("none", "")


@dataclass(frozen=True)
class Baseline:
    """The run to compare with (its summary), or None and why there is none; and the reference night that
    catches slow drift (None: none, or not searched)."""

    run_id: str | None
    summary: RunSummary | None
    reason: str  # how it was chosen, or why there is none
    reference: RunSummary | None = None
    accepted: str | None = None  # the baseline was accepted by hand: what changed then, and why


def _read_summary(run: RunRef) -> tuple[RunSummary | None, str | None]:
    """A run's summary.json as a baseline reads it (the damage rules of every reader), or why not."""
    uri = run.summary_json
    return checked_summary(uri, run.run_id, record_reads.read_small_many([uri], run.options)[uri])


def accepted_words(night: RunState) -> str | None:
    """What an accepted night changed since its own baseline and why, as the next night's gate line says
    it: "lr 0.1 → 0.05, 'faster schedule'" (None: not accepted)."""
    acceptance = night.record.acceptance if night.record is not None else None
    if acceptance is None:
        return None
    cmp = night.summary.comparison if night.summary is not None else None
    changed = changes_text(cmp.changes) if cmp is not None and cmp.changes else None
    return f"{changed}, '{acceptance.reason}'" if changed else f"'{acceptance.reason}'"


def _why_not(state: RunState, current: RunState) -> str | None:
    """Why an earlier night (its run.json only) cannot be the baseline, or None when it may be."""
    if state.record is None:
        return "without a readable run.json"
    if state.problems:  # e.g. a folder name no command can name: never a baseline
        return "damaged"
    status = state.stage_status("summary")
    accepted = status in GATE_OUTCOMES and state.record.acceptance is not None  # its alarm is over
    if status != "complete" and not accepted:
        failed = next((s for s in ("train", "infer") if state.stage_status(s) == "failed"), None)
        return status or (f"failed in {failed}" if failed else "never summarised")
    ours, theirs = current.manifest().test_split, state.manifest().test_split
    if ours is not None and theirs is not None and ours != theirs:
        return f"on other test data than {ours}"
    return None


def _why_none(current: RunState, passed_over: dict[str, str]) -> str:
    """Why no earlier night can be the baseline: there is none, or what became of each."""
    if not passed_over:
        return f"no earlier run in this output: {current.run_id} is the first"
    groups: dict[str, list[str]] = defaultdict(list)
    for run_id, why in passed_over.items():
        groups[why].append(run_id)
    parts = [
        f"{len(ids)} {why} ({', '.join(ids[:3])}{', …' if len(ids) > 3 else ''})"
        for why, ids in groups.items()
    ]
    return f"none of the {len(passed_over)} earlier run(s) completed its summary: {'; '.join(parts)}"


def _candidate(night: RunState) -> tuple[RunSummary | None, str | None]:
    """An earlier night (its run.json good, its summary.json read) as a baseline: its summary when the
    night is good, else None and why not."""
    if night.problems:  # one damaged night is passed over, as the listings do, not the end of tonight's gate
        log.warning("run %s is not a baseline: %s", night.run_id, night.problems[-1])
        return None, "summary.json damaged"
    if night.summary is None:
        return None, "summary.json missing"
    outcome = night_outcome(night).outcome
    accepted = night.record is not None and night.record.acceptance is not None
    return (night.summary, None) if outcome == OK or accepted else (None, outcome)


def _good_nights(
    current: RunState, nights: listing.Nights, passed_over: dict[str, str]
) -> Iterator[RunState]:
    """The earlier nights that may be a baseline or reference, nearest first (each summary read once); the
    others go into `passed_over` with why. An accepted night ends the search: what came before it is of
    another recipe or data, deliberately."""
    key = listing.order_key(current, unrecorded_now=True)
    for night in (n for n in nights.without_summaries() if listing.order_key(n) < key):
        summary, why = None, _why_not(night, current)
        if why is None:
            night = nights.with_summary(night.run_id)
            summary, why = _candidate(night)
        if summary is None:
            passed_over[night.run_id] = why or "not a baseline"
            continue
        yield night
        if night.record is not None and night.record.acceptance is not None:
            return


def previous(current: RunState, nights: listing.Nights | None = None, window: int = 7) -> Baseline:
    """The latest earlier good night (passed, or accepted) on the same test data, and the oldest such
    within the `window` nights before tonight as its reference (or why there is none); `nights`: the other
    nights as the command has read them (each summary.json is read once, when it is a candidate)."""
    nights = nights or listing.Nights(current.run.layout, skip=current.run_id)
    passed_over: dict[str, str] = {}
    good = _good_nights(current, nights, passed_over)
    base = next(good, None)
    if base is None:
        return Baseline(None, None, _why_none(current, passed_over))
    within, reference = {n.run_id for n in _nearest(current, nights, window)}, None
    for night in good if base.run_id in within else ():  # nearest first: the last one within is the oldest
        if night.run_id not in within:
            break
        reference = night
    why = "the latest earlier night that passed (or was accepted) on the same test data"
    reference_summary = reference.summary if reference else None
    return Baseline(base.run_id, base.summary, why, reference_summary, accepted_words(base))


def _nearest(current: RunState, nights: listing.Nights, window: int) -> list[RunState]:
    """The `window` nights before tonight, in night order, whatever their outcome."""
    key = listing.order_key(current, unrecorded_now=True)
    return [n for n in nights.without_summaries() if listing.order_key(n) < key][:window]


def load_baseline(
    current: RunState, baseline: str, nights: listing.Nights | None = None, window: int = 7
) -> Baseline:
    """The baseline: a run id, "previous" (the default: with a reference night within `window`) or
    "none"; a named one that is missing or damaged is refused (exit 2). `nights`: the other nights as the
    command has read them."""
    run = current.run
    if baseline in NO_BASELINE:
        return Baseline(None, None, "--baseline none: no comparison asked for")
    if baseline == PREVIOUS:
        found = previous(current, nights, window)
        said = f"baseline {found.run_id} ({found.reason})" if found.run_id else f"no baseline: {found.reason}"
        log.debug("run %s: %s", run.run_id, said)  # the gate's line says it again, where it matters
        return found
    if baseline == run.run_id:
        raise ConfigError(f"--baseline {baseline}: the baseline must be another run than {run.run_id}")
    named = run.with_run_id(baseline)
    summary, problem = _read_summary(named)
    if summary is None and problem is None:
        raise ConfigError(
            f"--baseline {baseline}: {named.summary_json} not found; summarise run {baseline} first or pick "
            "another"
        )
    if summary is None:  # a baseline named by hand and damaged: say so rather than compare with nothing
        raise DataError(f"--baseline {baseline}: {problem}; summarise run {baseline} again or pick another")
    log.debug("run %s: baseline %s (--baseline %s)", run.run_id, baseline, baseline)
    return Baseline(baseline, summary, f"--baseline {baseline}")
