"""The nightly's last stage: the history rebuilt with tonight's night as its owner holds it, recorded in
run.json as the stage "history"; after a good night, the heartbeat (_last_success.json) first."""

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from lenet_batch.errors import LenetError
from lenet_batch.pipeline.owner import RunOwner
from lenet_batch.state.listing import Nights
from lenet_batch.store.heartbeat import write_heartbeat
from lenet_batch.store.run_record import StageClock
from lenet_batch.summary.report import headline_line

if TYPE_CHECKING:
    from lenet_batch.history.stage import HistoryResult

log = logging.getLogger(__name__)
HISTORY = (
    "history"  # recorded once the history (and heartbeat) is written: a night stopped before is not finished
)


def _build(owner: RunOwner, nights: Nights, then: Callable[[], object] = lambda: None) -> "HistoryResult":
    """The history with tonight's night, then `then` (the heartbeat), then the stage recorded."""
    from lenet_batch.history.stage import build_history

    clock = StageClock.start()
    with owner.stage(HISTORY):
        history = build_history(owner.run.layout, tonight=owner.state, others=nights)
        then()
    owner.stage_done(HISTORY, clock.entry(None, "complete"))
    return history


def after_failure(owner: RunOwner, nights: Nights) -> "HistoryResult | None":
    """Rebuild the history after a failed night; its own failure is logged in one line, the night's exit
    code stands."""
    try:
        return _build(owner, nights)
    except LenetError as exc:
        log.error(
            "the history under %s was not rebuilt after the failed night: %s",
            owner.run.layout.history_dir(),
            exc,
        )
    except Exception:  # the night's error is what the exit code reports; this one is logged in full
        log.exception(
            "the history under %s was not rebuilt after the failed night", owner.run.layout.history_dir()
        )
    return None


def after_success(owner: RunOwner, nights: Nights) -> "HistoryResult":
    """The history, then the heartbeat; a history that cannot be written says that the run itself completed
    (and no heartbeat is written: a good night whose history is missing is not a success)."""
    state = owner.state
    summary = state.summary
    assert summary is not None  # a good night has its summary
    cmp = summary.comparison
    verdict = cmp.outcome() if cmp else "n/a"
    done = f"run {state.run_id} completed (gate: {verdict}; report: {summary.report_html})"
    try:
        beat = lambda: write_heartbeat(owner.run.layout, state.run_id, headline_line(summary))  # noqa: E731
        return _build(owner, nights, beat)
    except LenetError as exc:
        raise type(exc)(
            f"{done}, but the history was not written: {exc}; "
            f"rerun `lenet-batch history --output {owner.run.output}`"
        ) from None
    except Exception:
        log.error("%s, but rebuilding the history failed:", done)
        raise
