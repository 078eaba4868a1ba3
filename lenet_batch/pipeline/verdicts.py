"""Verdicts by hand: `accept` records a deliberate change (a new recipe, new data) as the new baseline and
reference; `compare` shows the gate's verdict of any two runs and writes nothing (a what-if never changes
a night)."""

import logging

from lenet_batch.config import Settings
from lenet_batch.errors import ConfigError, DataError
from lenet_batch.pipeline.owner import RunOwner
from lenet_batch.pipeline.single import hand_mark, require_run, written_or_nothing
from lenet_batch.provenance import now_utc, who
from lenet_batch.state.damage import checked_summary
from lenet_batch.state.night import NightStatus, night_status
from lenet_batch.state.outcome import INCONCLUSIVE, OK, REGRESSED, night_outcome
from lenet_batch.store import lock, record_reads
from lenet_batch.store.layout import RunRef
from lenet_batch.store.run_record import Acceptance
from lenet_batch.summary.types import Comparison, RunSummary

log = logging.getLogger(__name__)
ACCEPTABLE = (OK, REGRESSED, INCONCLUSIVE)  # a night that ran to its verdict; never a failed or damaged one


def accept(settings: Settings, reason: str) -> NightStatus:
    """Record the run as accepted (reason, who, when) in its run.json, then rebuild the history; the same
    reason again is nothing to do. ConfigError (exit 2) for a night that did not end in a verdict."""
    if not reason.strip():
        raise ConfigError("--reason is empty: say why the change is deliberate (it is shown with the night)")
    run = settings.run_ref()
    lock.refuse_if_held(run.layout, "accept", run.run_id, settings.stale_lock_seconds)
    state = RunOwner.read(run).state
    require_run(state)
    outcome = night_outcome(state)
    if outcome.outcome not in ACCEPTABLE:
        raise ConfigError(
            f"run {run.run_id} is {outcome.outcome} ({outcome.reason}); only a night that ran to its verdict "
            "can be accepted as the new baseline"
        )
    if state.record is not None and state.record.acceptance and state.record.acceptance.reason == reason:
        log.info("run %s: already accepted for that reason: nothing to do", run.run_id)
        return night_status(state)
    owner = RunOwner(state)
    with written_or_nothing(owner), hand_mark(settings, "accept", run.run_id):
        owner.accept(Acceptance(reason, who(), now_utc()))
        _history_again(owner, settings.stale_lock_seconds)
    return night_status(owner.state)


def _history_again(owner: RunOwner, stale_lock_seconds: int) -> None:
    from lenet_batch.history.stage import build_history
    from lenet_batch.store import hand_writers

    layout = owner.run.layout
    with hand_writers.hand_writer(layout, "history", None, stale_lock_seconds):
        build_history(layout, tonight=owner.state)


def _summary_of(run: RunRef) -> RunSummary:
    """A run's summary as every reader checks it; DataError (exit 2) naming what is missing or wrong."""
    uri = run.summary_json
    summary, problem = checked_summary(uri, run.run_id, record_reads.read_small_many([uri], run.options)[uri])
    if summary is None:
        raise DataError(problem or f"no such summary: {uri} (summarise run {run.run_id} first)")
    return summary


def compare(settings: Settings, baseline_id: str, run_id: str) -> Comparison:
    """The gate's verdict of run `run_id` against run `baseline_id` by the rule of the settings; nothing is
    written (the recorded verdicts stand)."""
    from lenet_batch.summary import gate  # scipy: only when comparing

    layout = settings.layout()
    if baseline_id == run_id:
        raise ConfigError(f"compare {baseline_id} {run_id}: give two different runs")
    tonight, before = _summary_of(layout.run(run_id)), _summary_of(layout.run(baseline_id))
    return gate.compare(tonight, before, settings.gate_rule())
