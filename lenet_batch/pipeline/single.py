"""The hand commands on one run: `train`, `infer` and `summary`.

Each refuses what it cannot do before anything starts (preflight), reads the run's state once, plans
(pipeline/plan.py), and then either returns the plan (--dry-run: nothing started, nothing written) or
carries it out on the run's owner and returns what its stage did. A command that wrote nothing keeps no log.
"""

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from lenet_batch.cluster.preflight import check_local_gpus
from lenet_batch.config import Settings
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.data.inputs import ImageSource
from lenet_batch.errors import DataError, ModelFileError
from lenet_batch.pipeline import run_data, stages
from lenet_batch.pipeline.owner import RunOwner
from lenet_batch.pipeline.plan import Plan, Request, plan
from lenet_batch.pipeline.requests import (
    InferRequest,
    TrainRequest,
    train_plan_request,
)
from lenet_batch.state import listing
from lenet_batch.state.run_state import RunState
from lenet_batch.store import hand_writers, lock, run_log, storage
from lenet_batch.store.backends import check_reachable_by_workers
from lenet_batch.store.seed_records import ScoreResult, TrainResult
from lenet_batch.summary.types import RunSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Done:
    """What a hand command did: its plan, and its stage's rows (None: a dry run, nothing done)."""

    plan: Plan
    rows: list[TrainResult] | list[ScoreResult] | None = None
    summary: RunSummary | None = None
    notes: dict[str, str] = field(default_factory=dict)  # what a dry run found out (the data it would use)


def preflight(settings: Settings, *inputs: str | None) -> None:
    """Refusals before any work, a dry run's too: storage Ray workers cannot see (memory://), GPUs this
    machine cannot give when no cluster is named."""
    check_reachable_by_workers(settings.output, *inputs)
    check_local_gpus(settings.gpus_per_seed, settings.address)


def require_run(state: RunState) -> None:
    """A run that was never written is "no such run" (exit 2), naming the newest there is."""
    if state.exists or storage.exists(state.run.run_dir, state.run.options):
        return
    layout = state.run.layout
    newest = listing.newest_run_id(layout) if storage.exists(layout.runs_root(), layout.options) else None
    where = f"newest: {newest}" if newest else f"no runs under {layout.runs_root()}"
    raise DataError(f"no such run: {state.run_id} ({where}); check --run and --output")


@contextlib.contextmanager
def written_or_nothing(owner: RunOwner) -> Iterator[None]:
    """A command that ended (however) without writing to the run keeps no log of it."""
    try:
        yield
    finally:
        if not owner.wrote:
            run_log.nothing_written()


def train(settings: Settings, dry_run: bool = False) -> Done:
    """Train the seeds with work left; the plan first (another recipe or other data is refused)."""
    request, run = TrainRequest.of(settings), settings.run_ref()
    preflight(settings)
    state = RunOwner.read(run).state
    planned = plan(state, train_plan_request(request, None))  # another recipe: refused before loading
    if dry_run:
        dataset = stages.load_dataset(request.data, run.options)
        plan(state, train_plan_request(request, stages.data_info(dataset, request.data.verify)))
        return Done(planned, notes={"data": f"{dataset.source} ({len(dataset.train_images)} train)"})
    owner = RunOwner(state)
    with written_or_nothing(owner):
        results, _ = stages.train(owner, planned, request)
        stages.raise_if_failed(results, "train")
    return Done(planned, results)


def infer(settings: Settings, force: bool = False, dry_run: bool = False) -> Done:
    """Score the input with the seeds' models; a seed already scored from its model and input is skipped."""
    request, run = InferRequest.of(settings), settings.run_ref()
    source = request.source
    preflight(settings, source.uri, source.labels_uri)
    if not dry_run:  # a nightly writing this run refuses the command first (exit 5)
        lock.refuse_if_held(run.layout, "infer", run.run_id, settings.stale_lock_seconds)
    state = RunOwner.read(run, input_name=source.partition_name).state
    require_run(state)
    if dry_run:
        return Done(_infer_plan(state, request, force)[0])
    owner = RunOwner(state)
    with written_or_nothing(owner), hand_mark(settings, "infer", run.run_id):  # marked before any loading
        planned, source, dataset = _infer_plan(state, request, force)
        results = stages.infer(owner, planned, request, source, dataset)
        stages.raise_if_failed(results, "infer")
    return Done(planned, results)


def _infer_plan(
    state: RunState, request: InferRequest, force: bool
) -> tuple[Plan, ImageSource, FashionMNIST | None]:
    """The infer plan, with the source sealed (its digest: an --input hashed, other test data refused) and
    the test split if it had to be loaded to know its digest."""
    source, dataset = run_data.sealed_source(state, request.source, request.data, None)
    planned = plan(state, Request(("infer",), request.seeds, test_split=source.digest, force=force))
    return planned, source, dataset


def predict(settings: Settings, seed: int, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first test images of the run's test split, their labels, and one seed's predictions of them
    (another test split than the run's is shown with a warning: predict writes nothing)."""
    from lenet_batch.scoring.seed import load_model, predict_classes

    run = settings.run_ref()
    state = RunOwner.read(run).state
    try:  # the same checked loading as batch inference: run exists, training complete, digest matches
        require_run(state)
        model = load_model(run, seed, state.seed(seed).metrics)
    except (DataError, ModelFileError) as exc:
        raise ModelFileError(f"no model for that run and seed: {exc}") from None
    data = run_data.data_for_run(state, settings.data_request())
    dataset = stages.load_dataset(data.request, run.options)
    differs = run_data.test_split_differs(data, dataset)
    if differs:
        log.warning(
            "run %s was evaluated on test split %s; these are images of %s, test split %s",
            *(run.run_id, differs[0], dataset.source, differs[1]),
        )
    images, labels = dataset.test_images[:first], dataset.test_labels[:first]
    return images, labels, predict_classes(run, seed, model, images)


def hand_mark(
    settings: Settings, command: str, run_id: str | None
) -> contextlib.AbstractContextManager[None]:
    """A hand command on what a nightly writes: refused while one does, marked while it runs (exit 5 for
    a nightly that starts meanwhile; store/hand_writers.py)."""
    return hand_writers.hand_writer(settings.layout(), command, run_id, settings.stale_lock_seconds)
