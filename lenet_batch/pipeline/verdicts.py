"""Verdicts by hand: `accept` records a deliberate change (a new recipe, new data) as the new baseline and
reference; `compare` shows the gate's verdict of any two runs and writes nothing (a what-if never changes
a night)."""

import logging

from lenet_batch.checks import check_run_id
from lenet_batch.config import Settings
from lenet_batch.errors import ConfigError, DataError
from lenet_batch.pipeline.hand_summary import rebuild_history
from lenet_batch.pipeline.owner import RunOwner
from lenet_batch.pipeline.single import hand_mark, require_run, written_or_nothing
from lenet_batch.provenance import now_utc, who
from lenet_batch.state.damage import checked_summary
from lenet_batch.state.listing import newest_run_id
from lenet_batch.state.night import NightStatus, night_status
from lenet_batch.state.outcome import INCONCLUSIVE, OK, REGRESSED, night_outcome
from lenet_batch.state.run_state import light_state
from lenet_batch.store import lock, record_reads
from lenet_batch.store.heartbeat import write_heartbeat
from lenet_batch.store.layout import Layout
from lenet_batch.store.run_record import Acceptance
from lenet_batch.summary.baseline import accepted_words
from lenet_batch.summary.report import headline_line
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
            f"run {run.run_id} cannot be accepted: {outcome.reason} ({outcome.outcome.replace('_', ' ')}); "
            "only a night that ran to its verdict (passed, regressed or inconclusive) can be the new baseline"
        )
    if state.record is not None and state.record.acceptance and state.record.acceptance.reason == reason:
        log.info("run %s: already accepted for that reason: nothing to do", run.run_id)
        return night_status(state)
    owner = RunOwner(state)
    with written_or_nothing(owner), hand_mark(settings, "accept", run.run_id):
        owner.accept(Acceptance(reason, who(), now_utc()))
        _heartbeat_if_newest(owner)
        rebuild_history(owner, settings.stale_lock_seconds)
    return night_status(owner.state)


def _heartbeat_if_newest(owner: RunOwner) -> None:
    """An accepted newest night is the output's last success (check and the metrics file say healthy, not
    regressed): the heartbeat names it, dated when the night's summary finished, not now, so a schedule
    that stopped still reads stale."""
    state = owner.state
    if state.summary is None or state.record is None or newest_run_id(owner.run.layout) != state.run_id:
        return  # an older night accepted: the newer nights' heartbeat stands
    summary_stage = state.record.stages.get("summary")
    finished = (summary_stage.finished_at if summary_stage else None) or state.record.updated_at
    write_heartbeat(owner.run.layout, state.run_id, headline_line(state.summary), finished)


def _judged(layout: Layout, run_id: str, said: str) -> tuple[RunSummary, str | None]:
    """A run's summary as every reader checks it, and its acceptance in words (None: not accepted);
    exit 2 for a run id that is not one, no such run, or a summary missing or damaged."""
    run = layout.run(check_run_id(run_id, said))
    reads = record_reads.read_small_many([run.run_json, run.summary_json], run.options)
    state = light_state(run, reads[run.run_json], reads[run.summary_json])
    require_run(state)
    if state.summary is None:
        _, problem = checked_summary(run.summary_json, run_id, reads[run.summary_json])
        raise DataError(
            problem or f"run {run_id} has no summary: {run.summary_json} not found (summarise it first)"
        )
    return state.summary, accepted_words(state)


def compare(settings: Settings, baseline_id: str, run_id: str) -> Comparison:
    """The gate's verdict of run `run_id` against run `baseline_id` by the rule of the settings; nothing is
    written (the recorded verdicts stand)."""
    from lenet_batch.summary import gate  # scipy: only when comparing

    layout = settings.layout()
    if baseline_id == run_id:
        raise ConfigError(f"compare {baseline_id} {run_id}: give two different runs")
    before, accepted = _judged(layout, baseline_id, "compare BASELINE")
    tonight, _ = _judged(layout, run_id, "compare RUN")
    return gate.compare(tonight, before, settings.gate_rule(), accepted=accepted)
