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
from dataclasses import dataclass

from lenet_batch.config import BASELINE_PREVIOUS
from lenet_batch.errors import ConfigError, DataError
from lenet_batch.state import listing
from lenet_batch.state.damage import checked_summary
from lenet_batch.state.outcome import OK, night_outcome
from lenet_batch.state.run_state import RunState
from lenet_batch.store import record_reads
from lenet_batch.store.layout import RunRef
from lenet_batch.summary.types import RunSummary

log = logging.getLogger(__name__)

PREVIOUS = BASELINE_PREVIOUS  # the default: the latest earlier good night
NO_BASELINE = ("none", "")


@dataclass(frozen=True)
class Baseline:
    """The run to compare with (its summary), or None and why there is none."""

    run_id: str | None
    summary: RunSummary | None
    reason: str  # how it was chosen, or why there is none


def _read_summary(run: RunRef) -> tuple[RunSummary | None, str | None]:
    """A run's summary.json as a baseline reads it (the damage rules of every reader), or why not."""
    uri = run.summary_json
    return checked_summary(uri, run.run_id, record_reads.read_small_many([uri], run.options)[uri])


def _why_not(state: RunState, current: RunState) -> str | None:
    """Why an earlier night (its run.json only) cannot be the baseline, or None when it may be."""
    if state.record is None:
        return "without a readable run.json"
    if state.problems:  # e.g. a folder name no command can name: never a baseline
        return "damaged"
    status = state.stage_status("summary")
    if status != "complete":
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
    return (night.summary, None) if outcome == OK else (None, outcome)


def previous(current: RunState, nights: listing.Nights | None = None) -> Baseline:
    """The previous good night on the same test data (or why there is none); `nights`: the other nights
    as the command has read them (each summary.json is read once, when it is a candidate)."""
    nights = nights or listing.Nights(current.run.layout, skip=current.run_id)
    key = listing.order_key(current)
    passed_over: dict[str, str] = {}
    earlier = (
        n for n in nights.without_summaries() if n.run_id != current.run_id and listing.order_key(n) < key
    )
    for night in earlier:
        summary, why = None, _why_not(night, current)
        if why is None:
            summary, why = _candidate(nights.with_summary(night.run_id))
        if summary is not None:
            return Baseline(night.run_id, summary, "the previous completed night on the same test data")
        passed_over[night.run_id] = why or "not a baseline"
    return Baseline(None, None, _why_none(current, passed_over))


def load_baseline(current: RunState, baseline: str, nights: listing.Nights | None = None) -> Baseline:
    """The baseline: a run id, "previous" (the default) or "none"; a named one that is missing or damaged
    is refused (exit 2). `nights`: the other nights as the command has read them."""
    run = current.run
    if baseline in NO_BASELINE:
        return Baseline(None, None, "--baseline none: no comparison asked for")
    if baseline == PREVIOUS:
        found = previous(current, nights)
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
