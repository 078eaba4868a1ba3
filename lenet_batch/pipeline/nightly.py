"""The nightly: train → infer → summary → history for one run id under the output's lock; resumable.

It reads the night's state once, plans it (pipeline/plan.py) and, when the plan has nothing to do, says so
and writes nothing: not the lock, the history or the heartbeat. Otherwise it takes the lock, loads the
data, plans again with it (other data is refused before anything is written), and carries the plan out on
the run's owner. A night that did something and then failed (seeds failed: exit 3, regression: exit 4, or
another error) rebuilds the history so that it shows, and carries its document (NightResult) in the error.
"""

import dataclasses
import logging
from dataclasses import dataclass

from lenet_batch.config import Settings
from lenet_batch.errors import (
    EXIT_INCONCLUSIVE,
    EXIT_REGRESSION,
    EXIT_SEEDS_FAILED,
    GateInconclusive,
    LenetError,
    RegressionDetected,
)
from lenet_batch.json_records import JsonRecord
from lenet_batch.monitor.watch import NightWatch
from lenet_batch.pipeline import history_step, stages
from lenet_batch.pipeline.night_plan import NightPlan, locked_plan, plan_night
from lenet_batch.pipeline.owner import RunOwner
from lenet_batch.pipeline.plan import Plan, Step
from lenet_batch.pipeline.requests import InferRequest
from lenet_batch.state.outcome import night_outcome
from lenet_batch.state.run_state import stamp
from lenet_batch.store import hand_writers, lock, run_log
from lenet_batch.store.run_record import SeedEntry
from lenet_batch.summary.report import headline_line
from lenet_batch.summary.types import RunSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NightResult(JsonRecord):
    """A night as the nightly ends it (exit 0, 3 or 4): its outcome (state/outcome.py), the line it prints
    first, whether it found nothing to do, its plan, what each stage did, the summary and the history."""

    run_id: str
    outcome: str
    headline: str
    nothing_to_do: bool = False  # every step was a skip: nothing was written
    plan: tuple[Step, ...] = ()
    train: tuple[SeedEntry, ...] | None = None  # None: the stage did not run tonight
    infer: tuple[SeedEntry, ...] | None = None
    summary: RunSummary | None = None
    history: "history_step.HistoryResult | None" = None


def _evaluation_only(settings: Settings) -> Settings:
    """The nightly evaluates on the test split; other images are scored by `infer --input`."""
    if not settings.input:
        return settings
    log.warning("nightly: ignoring input %s; it scores the Fashion-MNIST test split", settings.input)
    return dataclasses.replace(settings, input="", input_labels="", input_name="")


def nightly(settings: Settings, force: bool = False) -> NightResult:
    """Plan the night and carry it out under the lock; every end of it is told to the watch (the metrics
    file and the webhook). `force` scores and summarises again what is already done."""
    settings = _evaluation_only(settings)
    with NightWatch.start(settings) as watch:
        return _nightly(settings, force, watch)


def dry_run(settings: Settings, force: bool = False) -> Plan:
    """The night's plan as the nightly would carry it out; refuses what it would refuse (the data too,
    loaded when the plan has work: another recipe, other data, memory://, GPUs this machine lacks).
    Nothing is started or written."""
    planned = plan_night(_evaluation_only(settings), force)
    if planned.plan.empty:
        return planned.plan
    return locked_plan(planned, force).plan


def _nightly(settings: Settings, force: bool, watch: NightWatch) -> NightResult:
    run = settings.run_ref()
    if not force:  # a nightly of this run under way: refused before anything is read (exit 5)
        lock.refuse_if_held(run.layout, "nightly", run.run_id, settings.stale_lock_seconds)
    planned = plan_night(settings, force)
    watch.state, watch.nights = planned.state, planned.nights
    if planned.plan.empty:
        watch.nothing_to_do = True
        return _nothing_to_do(planned)
    with lock.run_lock(run, settings.stale_lock_seconds):
        hand_writers.refuse_if_hand_writers(run.layout, run.run_id, settings.stale_lock_seconds)
        if stamp(run) != planned.state.stamp:  # another command wrote the run since it was read
            log.info("run %s changed since it was read: reading it again", run.run_id)
            planned = plan_night(settings, force, RunOwner.read(run).state)
        owner = watch.owner = RunOwner(planned.state)
        with owner.stage("train"):  # the data loads (a crash or a stop here reads as the night's)
            planned = locked_plan(planned, force)
        if planned.plan.empty:
            watch.nothing_to_do = True
            return _nothing_to_do(planned)
        return _carry_out(planned, owner, settings)


def _carry_out(planned: NightPlan, owner: RunOwner, settings: Settings) -> NightResult:
    """The stages, then the history (recorded as a stage of the run) and the heartbeat."""
    done = _Progress(planned)
    try:
        _stages(planned, owner, settings, done)
    except LenetError as exc:
        history = history_step.after_failure(owner, planned.nights) if owner.wrote else None
        if not owner.wrote:
            run_log.nothing_written()
        if exc.exit_code in (EXIT_SEEDS_FAILED, EXIT_REGRESSION, EXIT_INCONCLUSIVE):  # it ran: its document
            exc.document = done.result(owner, str(exc), history)
        raise
    history = history_step.after_success(owner, planned.nights)
    return done.result(owner, "", history)


@dataclass
class _Progress:
    """What the stages did so far tonight (kept for the night's document when a later stage fails)."""

    planned: NightPlan
    train: tuple[SeedEntry, ...] | None = None
    infer: tuple[SeedEntry, ...] | None = None
    summary: RunSummary | None = None  # tonight's (made or reused); None: the stage was not reached

    def result(
        self, owner: RunOwner, error: str, history: "history_step.HistoryResult | None"
    ) -> NightResult:
        """The night's document from what its stages did."""
        state, summary = owner.state, self.summary
        headline = headline_line(summary) if summary is not None else f"run {state.run_id}: {error}"
        return NightResult(
            run_id=state.run_id,
            outcome=night_outcome(state).outcome,
            headline=headline,
            plan=self.planned.plan.steps,
            train=self.train,
            infer=self.infer,
            summary=summary,
            history=history,
        )


def _stages(planned: NightPlan, owner: RunOwner, settings: Settings, done: _Progress) -> None:
    """Train, infer and summarise as planned; raises SeedsFailed (3) or RegressionDetected (4)."""
    plan, training, gating = planned.plan, planned.training, planned.gating
    trained, _ = stages.train(owner, plan, training, planned.dataset)
    done.train = tuple(r.entry() for r in trained)
    stages.raise_if_failed(trained, "train")
    run_log.save_all()  # the durable log, at each stage boundary
    scoring = InferRequest.of(settings, training.seeds)
    scored = stages.infer(owner, plan, scoring, planned.source, planned.dataset)
    done.infer = tuple(r.entry() for r in scored)
    stages.raise_if_failed(scored, "infer")
    run_log.save_all()
    images = planned.dataset.arrays if planned.dataset is not None else (lambda: None)
    try:
        done.summary = stages.summarize(owner, plan, planned.base, gating, images)
    except (RegressionDetected, GateInconclusive) as exc:
        done.summary = exc.document if isinstance(exc.document, RunSummary) else None
        raise


def _nothing_to_do(planned: NightPlan) -> NightResult:
    """A finished night: said once, nothing written (no log kept either); a regressed or inconclusive one
    exits 4 or 8 again."""
    state = planned.state
    summary = state.summary
    assert summary is not None  # a night with nothing left has its summary
    log.info(
        "run %s: nothing to do: every stage is complete and nothing changed since its summary of %s",
        state.run_id,
        summary.generated_at,
    )
    run_log.nothing_written()
    outcome = night_outcome(state).outcome
    night = NightResult(
        state.run_id, outcome, headline_line(summary), True, planned.plan.steps, summary=summary
    )
    stages.raise_if_judged(state.run_id, summary, planned.gating.fail_on, night)
    return night
