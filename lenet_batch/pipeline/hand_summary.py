"""The hand `summary` of one run, and the same from a program (summarise): the run's state read once, its
baseline and reference found, planned (a summary with nothing new is reused), and made.

A night whose verdict is recorded is not judged again by another baseline or rule (a what-if: `compare`
shows it and writes nothing), unless --force, which then also rebuilds the history: `runs`, history.html and
`check` keep saying the same of the night.
"""

import contextlib
import logging
from dataclasses import replace

from lenet_batch.config import DataRequest, GateRule, Settings
from lenet_batch.errors import LenetError
from lenet_batch.pipeline import run_data, stages
from lenet_batch.pipeline.owner import RunOwner
from lenet_batch.pipeline.plan import Plan, Request, plan
from lenet_batch.pipeline.requests import SummaryRequest, summary_digest
from lenet_batch.pipeline.single import Done, hand_mark, require_run, written_or_nothing
from lenet_batch.state.run_state import RunState
from lenet_batch.store import lock
from lenet_batch.store.layout import RunRef
from lenet_batch.summary.baseline import PREVIOUS, Baseline, load_baseline
from lenet_batch.summary.types import RunSummary

log = logging.getLogger(__name__)


def summary(settings: Settings, force: bool = False, dry_run: bool = False) -> Done:
    """Summarise the run (or reuse its summary when nothing is new); raises RegressionDetected (exit 4)."""
    request, run, data = SummaryRequest.of(settings), settings.run_ref(), settings.data_request()
    if dry_run:
        return Done(_summary_plan(RunOwner.read(run).state, request, data, force)[0])
    lock.refuse_if_held(run.layout, "summary", run.run_id, settings.stale_lock_seconds)  # exit 5 first
    hand = hand_mark(settings, "summary", run.run_id)
    stale = settings.stale_lock_seconds
    summary = summarise(run, request=request, data=data, force=force, hand=hand, history_lock=stale)
    return Done(Plan(run.run_id), summary=summary)


def summarise(
    run: RunRef,
    *,
    baseline: str = PREVIOUS,
    rule: GateRule | None = None,
    request: SummaryRequest | None = None,
    data: DataRequest | None = None,
    images: dict | None = None,
    force: bool = False,
    hand: contextlib.AbstractContextManager[None] | None = None,
    history_lock: int | None = None,
) -> RunSummary:
    """Summarise a run as `lenet-batch summary` does, from a program: against `baseline` by `rule`, with
    the pictures drawn from `images` (the test split's arrays) or else the test split of `data` (None: no
    pictures); raises RegressionDetected (exit 4) with the summary. `hand`: a hand command's mark, held
    while it writes; `history_lock`: rebuild the history after a new summary (a nightly's lock older than
    these seconds is stale)."""
    request = request or SummaryRequest(baseline, rule or GateRule())
    state = RunOwner.read(run).state
    planned, base, loaded = _summary_plan(state, request, data, force, images)
    owner = RunOwner(state)
    pictures = (lambda: loaded or run_data.pictures(state, data)) if data is not None else (lambda: loaded)
    with written_or_nothing(owner), hand or contextlib.nullcontext():
        try:
            return stages.summarize(owner, planned, base, request, pictures)
        finally:  # a new verdict (exit 4 and 8 too): the history says it as `runs` and `check` do
            if owner.wrote and history_lock is not None:
                rebuild_history(owner, history_lock)


def _summary_plan(
    state: RunState,
    request: SummaryRequest,
    data: DataRequest | None,
    force: bool,
    images: dict | None = None,
) -> tuple[Plan, Baseline, dict | None]:
    """The summary's plan, its baseline, and the pictures' images when they had to be loaded to make it.

    Other test data (--data) is refused before anything is written; a summary without the pictures is
    made again only when they can be drawn now."""
    require_run(state)
    dataset = None
    if data is not None and data.uri:
        dataset = run_data.load_for_run(state.run, run_data.data_for_run(state, data))
    base = load_baseline(state, request.baseline, window=request.reference_window)
    images = dataset.arrays() if dataset is not None else images
    digest = summary_digest(state, base, request.rule)
    asked = Request(
        ("summary",), None, summary_digest=digest, force=force, judged_by=(base.run_id, request.rule)
    )
    planned = plan(state, replace(asked, pictures=images is not None))
    standing = state.summary
    lacks = standing is not None and "train_images.png" not in standing.files
    if planned.empty and images is None and data is not None and lacks:
        images = run_data.pictures(state, data)
        if images is not None:
            planned = plan(state, replace(asked, pictures=True))
    return planned, base, images


def rebuild_history(owner: RunOwner, stale_lock_seconds: int) -> None:
    """The history again after a hand command changed a night (a verdict, an acceptance); its own failure
    is one line, and the night's change stands."""
    from lenet_batch.history.stage import build_history
    from lenet_batch.store import hand_writers

    layout = owner.run.layout
    try:
        with hand_writers.hand_writer(layout, "history", None, stale_lock_seconds):
            build_history(layout, tonight=owner.state)
    except LenetError as exc:
        log.error("the history was not rebuilt after the new summary: %s", exc)
