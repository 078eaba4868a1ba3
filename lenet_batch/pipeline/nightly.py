"""The nightly: train → infer → summary → history for one run id under the output's lock; resumable.

A finished night (pipeline/finished.py) is "nothing to do": nothing is written, not even the lock, the
history or the heartbeat. A refused night (bad settings, other data, another recipe, a missing baseline, the
lock held: exit 2 or 5) writes nothing either. A night that did something and then failed (seeds failed:
exit 3, regression: exit 4, or another error) rebuilds the history so that it shows, and carries its
document (NightResult) in the error for the CLI to print.
"""

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lenet_batch.config import Settings
from lenet_batch.errors import EXIT_REGRESSION, EXIT_SEEDS_FAILED, LenetError, RegressionDetected
from lenet_batch.json_records import JsonRecord
from lenet_batch.monitor.watch import NightWatch
from lenet_batch.pipeline import finished, stages
from lenet_batch.provenance import now_utc
from lenet_batch.store import hand_writers, lock, run_log, run_record, storage
from lenet_batch.store.backends import check_reachable_by_workers
from lenet_batch.store.layout import RunRef
from lenet_batch.store.run_record import SeedEntry
from lenet_batch.summary.baseline import NO_BASELINE, PREVIOUS, load_baseline
from lenet_batch.summary.report import headline_line
from lenet_batch.summary.types import RunSummary

if TYPE_CHECKING:
    from lenet_batch.history.stage import HistoryResult

log = logging.getLogger(__name__)

DONE, NOTHING_TO_DO = "done", "nothing to do"
HISTORY = (
    "history"  # the nightly's last stage, recorded in run.json once the history (and heartbeat) is written
)


@dataclass(frozen=True)
class NightResult(JsonRecord):
    """A night as the nightly ends it (exit 0, 3 or 4): what each stage did, the summary and the history.

    `outcome` is done, nothing to do (a finished night: nothing was written), seeds failed or regressed
    (the error line says more); `headline` is the line the nightly prints first, whatever the exit code.
    """

    run_id: str
    outcome: str
    headline: str
    train: tuple[SeedEntry, ...] | None = None  # None: the stage did not run tonight
    infer: tuple[SeedEntry, ...] | None = None
    summary: RunSummary | None = None
    history: "HistoryResult | None" = None


@dataclass
class _Progress:
    """What the stages did so far tonight (kept for the night's document when a later stage fails)."""

    train: list[SeedEntry] | None = None
    infer: list[SeedEntry] | None = None
    summary: RunSummary | None = None
    changed: bool = False  # the night wrote something (run.json or the summary changed)


def nightly(settings: Settings, force: bool = False) -> NightResult:
    """Run the stages and rebuild the history; returns the night. The heartbeat is written last.

    A good night whose history cannot be written is not a success: the error says that the run itself
    completed, and no heartbeat is written. `force` scores and summarises again what is already done.
    """
    if settings.input:  # the nightly evaluates on the test split; other images are scored by `infer --input`
        log.warning("nightly: ignoring input %s; it scores the Fashion-MNIST test split", settings.input)
        settings = dataclasses.replace(settings, input="", input_labels="", input_name="")
    run = settings.run_ref()
    check_reachable_by_workers(run.output)
    training, gating = stages.TrainRequest.of(settings), stages.SummaryRequest.of(settings)
    if gating.baseline not in (PREVIOUS, *NO_BASELINE):
        load_baseline(run, gating.baseline)  # a missing baseline is refused before any work (exit 2)
    if not force:
        lock.refuse_if_held(run.layout, "nightly", run.run_id, settings.stale_lock_seconds)
        done = finished.finished_night(run, training, gating)
        if done is not None:
            return _nothing_to_do(run, done)
    watch = NightWatch.start(
        settings, run
    )  # the metrics file and the webhook, told once the lock is released
    try:
        with lock.run_lock(run, settings.stale_lock_seconds):
            hand_writers.refuse_if_hand_writers(run.layout, run.run_id, settings.stale_lock_seconds)
            night = _locked_night(settings, run, force)
    except BaseException as exc:
        watch.finish(exc)  # monitor/watch.py: a refusal that wrote nothing, or a stop, tells nobody
        raise
    if night.outcome != NOTHING_TO_DO:  # a night that found everything done has nothing new to tell
        watch.finish()
    return night


def _locked_night(settings: Settings, run: RunRef, force: bool) -> NightResult:
    """The stages under the lock, then the history (recorded as a stage of the run) and the heartbeat."""
    progress = _Progress()
    try:
        _stages(settings, run, progress, force)
    except LenetError as exc:
        history = _history_after_failure(run) if _needs_history(run, progress) else None
        if history is None and not progress.changed:
            run_log.nothing_written()
        if exc.exit_code in (EXIT_SEEDS_FAILED, EXIT_REGRESSION):  # the night ran: its document
            exc.document = _night(run, progress, _outcome_of_error(exc), str(exc), history)
        raise
    if not _needs_history(run, progress):  # everything was done already: no history, no heartbeat
        return _nothing_to_do(run, progress.summary)
    night = _night(run, progress, DONE, headline_line(progress.summary))
    night = dataclasses.replace(night, history=_history_after_success(run, progress.summary))
    storage.write_json_atomic(
        run.layout.heartbeat(),
        {"run_id": run.run_id, "finished_at": now_utc(), "headline": night.headline},
        run.options,
    )
    _record_history(run)  # after the heartbeat: a night stopped before it is not finished
    return night


def _needs_history(run: RunRef, progress: _Progress) -> bool:
    """The night changed its run, or its summary stands but its history was never recorded as built."""
    if progress.changed:
        return True
    return progress.summary is not None and run_record.read_run(run).stage_status(HISTORY) != "complete"


def _record_history(run: RunRef) -> None:
    """The history stage in run.json: this night's history (and heartbeat, when it passed) were written."""
    run_record.update_stage(run, HISTORY, None, status="complete")


def _stages(settings: Settings, run: RunRef, progress: _Progress, force: bool) -> None:
    """Train, infer and summarise into `progress`; raises SeedsFailed (3) or RegressionDetected (4).

    Each stage starts Ray only for work that needs it: a rerun with every seed trained starts none, and
    scoring the test split runs in this process when a local Ray would not pay for itself.
    """
    before = stages.written(run)
    try:
        training = stages.TrainRequest.of(settings)
        dataset = stages.load_dataset(training.data, run.options)
        trained = stages.train(run, training, dataset)  # each stage marks its own interruption
        progress.train = [r.entry() for r in trained]
        stages.raise_if_failed(trained, "train")
        run_log.save_all()  # the durable log, at each stage boundary
        scoring = stages.InferRequest.of(settings, training.seeds)
        scored = stages.infer(run, scoring, dataset, force=force)
        progress.infer = [r.entry() for r in scored]
        stages.raise_if_failed(scored, "infer")
        run_log.save_all()
        progress.summary = stages.summarize(run, stages.SummaryRequest.of(settings), dataset, force=force)
    except RegressionDetected as exc:
        progress.summary = exc.document if isinstance(exc.document, RunSummary) else None
        raise
    finally:
        progress.changed = stages.written(run) != before


def _outcome_of_error(exc: LenetError) -> str:
    return "regressed" if exc.exit_code == EXIT_REGRESSION else "seeds failed"


def _night(
    run: RunRef, progress: _Progress, outcome: str, headline: str, history: "HistoryResult | None" = None
) -> NightResult:
    """The night's document from what its stages did."""
    if progress.summary is not None:
        headline = headline_line(progress.summary)
    return NightResult(
        run_id=run.run_id,
        outcome=outcome,
        headline=headline if headline.startswith("run ") else f"run {run.run_id}: {headline}",
        train=tuple(progress.train) if progress.train is not None else None,
        infer=tuple(progress.infer) if progress.infer is not None else None,
        summary=progress.summary,
        history=history,
    )


def _nothing_to_do(run: RunRef, summary: RunSummary | None) -> NightResult:
    """A finished night: said once, nothing written (no log kept either); a regressed one exits 4 again."""
    assert summary is not None  # a night with nothing left has its summary
    log.info(
        "run %s: nothing to do: every stage is complete and nothing changed since its summary of %s",
        run.run_id,
        summary.generated_at,
    )
    run_log.nothing_written()
    night = NightResult(run.run_id, NOTHING_TO_DO, headline_line(summary), summary=summary)
    cmp = summary.comparison
    if cmp is not None and cmp.regressed:
        raise RegressionDetected(
            f"run {run.run_id}: {cmp.line()} (report: {summary.report_html})", document=night
        )
    return night


def _history_after_failure(run: RunRef) -> "HistoryResult | None":
    """Rebuild the history after a failed night; its own failure is logged, the night's exit code stands."""
    from lenet_batch.history.stage import build_history

    try:
        with run_record.marks_interruption(run, HISTORY):
            history = build_history(run.layout)
        _record_history(run)
        return history
    except Exception:  # the night's error is what the exit code reports; this one is logged in full
        log.exception("the history under %s was not rebuilt after the failed night", run.layout.history_dir())
        return None


def _history_after_success(run: RunRef, summary: RunSummary) -> "HistoryResult":
    """Rebuild the history after a good night; a failure says that the run itself completed."""
    from lenet_batch.history.stage import build_history

    outcome = summary.comparison.outcome() if summary.comparison else "n/a"
    done = f"run {run.run_id} completed (gate: {outcome}; report: {summary.report_html})"
    try:
        with run_record.marks_interruption(run, HISTORY):
            return build_history(run.layout)
    except LenetError as exc:
        raise type(exc)(
            f"{done}, but the history was not written: {exc}; "
            f"rerun `lenet-batch history --output {run.output}`"
        ) from None
    except Exception:
        log.error("%s, but rebuilding the history failed:", done)
        raise
