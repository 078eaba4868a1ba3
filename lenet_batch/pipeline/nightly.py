"""The nightly: train → infer → summary → history for one run id under the output's lock; resumable."""

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lenet_batch.config import Settings
from lenet_batch.errors import LenetError
from lenet_batch.monitor.watch import NightWatch
from lenet_batch.pipeline import stages
from lenet_batch.provenance import now_utc
from lenet_batch.store import lock, run_log, storage
from lenet_batch.store.backends import check_reachable_by_workers
from lenet_batch.store.layout import Layout, RunRef
from lenet_batch.summary.report import headline_line
from lenet_batch.summary.types import RunSummary

if TYPE_CHECKING:
    from lenet_batch.history.stage import HistoryResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NightResult:
    """A finished night: the run's summary and what the history stage wrote."""

    summary: RunSummary
    history: "HistoryResult"


def nightly(settings: Settings) -> NightResult:
    """Run the stages and rebuild the history; returns both results. The heartbeat is written last.

    A night that fails (seeds failed: exit 3, regression: exit 4, bad input: exit 2) still rebuilds the
    history, so that it shows the night, and keeps its own exit code. A good night whose history cannot be
    written is not a success: the error says that the run itself completed, and no heartbeat is written.
    """
    if settings.input:  # the nightly evaluates on the test split; other images are scored by `infer --input`
        log.warning("nightly: ignoring input %s; it scores the Fashion-MNIST test split", settings.input)
        settings = dataclasses.replace(settings, input="", input_labels="", input_name="")
    run = settings.run_ref()
    check_reachable_by_workers(run.output)
    # The metrics file and the webhook are told once the lock is released (monitor/watch.py).
    with NightWatch.start(settings, run), lock.run_lock(run, settings.stale_lock_seconds):
        try:
            summary = _stages(settings, run)
        except LenetError:
            if storage.exists(run.run_json, run.options):  # a night that never started has nothing to show
                _history_after_failure(run.layout)
            raise
        night = NightResult(summary, _history_after_success(run, summary))
        storage.write_json_atomic(
            run.layout.heartbeat(),
            {"run_id": run.run_id, "finished_at": now_utc(), "headline": headline_line(summary)},
            run.options,
        )
    return night


def _stages(settings: Settings, run: RunRef) -> RunSummary:
    """Train, infer and summarise; raises SeedsFailed (3) or RegressionDetected (4).

    Each stage starts Ray only for work that needs it: a rerun with every seed trained starts none, and
    scoring the test split runs in this process when a local Ray would not pay for itself.
    """
    training = stages.TrainRequest.of(settings)
    dataset = stages.load_dataset(training.data, run.options)
    stages.raise_if_failed(stages.train(run, training, dataset), "train")  # each stage marks its interruption
    run_log.save_all()  # the durable log, at each stage boundary
    scoring = stages.InferRequest.of(settings, training.seeds)
    stages.raise_if_failed(stages.infer(run, scoring, dataset), "infer")
    run_log.save_all()
    return stages.summarize(run, stages.SummaryRequest.of(settings), dataset)


def _history_after_failure(layout: Layout) -> None:
    """Rebuild the history after a failed night; its own failure is logged, the night's exit code stands."""
    from lenet_batch.history.stage import build_history

    try:
        build_history(layout)
    except Exception:  # the night's error is what the exit code reports; this one is logged in full
        log.exception("the history under %s was not rebuilt after the failed night", layout.history_dir())


def _history_after_success(run: RunRef, summary: RunSummary) -> "HistoryResult":
    """Rebuild the history after a good night; a failure says that the run itself completed."""
    from lenet_batch.history.stage import build_history

    outcome = summary.comparison.outcome() if summary.comparison else "n/a"
    done = f"run {run.run_id} completed (gate: {outcome}; report: {summary.report_html})"
    try:
        return build_history(run.layout)
    except LenetError as exc:
        raise type(exc)(
            f"{done}, but the history was not written: {exc}; "
            f"rerun `lenet-batch history --output {run.output}`"
        ) from None
    except Exception:
        log.error("%s, but rebuilding the history failed:", done)
        raise
