"""The stages of a run (train, infer, summary), each given the run and a small request of what it uses.

The CLI's subcommands and the nightly call them (jobs/ run the CLI); a request is made from the resolved
settings once, by its `of`, so that no stage reads the whole Settings.
"""

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lenet_batch.cluster.preflight import check_local_gpus
from lenet_batch.config import ClusterOptions, DataRequest, GateRule, Recipe, Settings
from lenet_batch.data import fashion_mnist
from lenet_batch.data.batch import IMAGE_BYTES
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.data.inputs import ImageSource
from lenet_batch.data.limits import evaluation_limits, limited
from lenet_batch.errors import DataError, LenetError, ModelFileError, SeedsFailed, StorageError
from lenet_batch.pipeline.local_scoring import pin_threads, score_here
from lenet_batch.pipeline.placement import local_slots, score_on_ray
from lenet_batch.records import DataInfo
from lenet_batch.store import run_record, storage
from lenet_batch.store.backends import StorageOptions, check_reachable_by_workers
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import (
    ScoreResult,
    TrainResult,
    trained_seeds,
)
from lenet_batch.training.checkpoints import run_states, seed_state, skipped
from lenet_batch.training.plan import RESUME, SKIP, SeedPlan, plan_seeds

if TYPE_CHECKING:
    from lenet_batch.summary.types import RunSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainRequest:
    """What the train stage is asked: seeds, recipe, data, where tasks run, and the settings to record."""

    seeds: tuple[int, ...]
    recipe: Recipe
    data: DataRequest
    cluster: ClusterOptions
    recorded_settings: dict[str, Any]  # as run.json records them: secrets masked

    @classmethod
    def of(cls, settings: Settings) -> "TrainRequest":
        return cls(
            tuple(settings.seed_list()),
            settings.recipe(),
            settings.data_request(),
            settings.cluster(),
            settings.public_record(),
        )


@dataclass(frozen=True)
class InferRequest:
    """What the infer stage is asked: the images, the seeds (None: every trained one), where tasks run."""

    source: ImageSource
    seeds: tuple[int, ...] | None
    cluster: ClusterOptions
    data: DataRequest

    @classmethod
    def of(cls, settings: Settings, seeds: Sequence[int] | None = None) -> "InferRequest":
        """--input (with --input-labels) or else the test split of --data; seeds default to --seeds."""
        source = ImageSource(
            uri=settings.input or None,
            labels_uri=settings.input_labels or None,
            data_uri=settings.data or None,
            verify=settings.verify_data,
            batch_size=settings.infer_batch_size,
            input_name=settings.input_name or None,
        )
        given = settings.given_seeds() if seeds is None else seeds
        chosen = None if given is None else tuple(given)
        return cls(source, chosen, settings.cluster(), settings.data_request())


@dataclass(frozen=True)
class SummaryRequest:
    """What the summary stage is asked: the baseline to compare with and the gate's rule."""

    baseline: str
    rule: GateRule

    @classmethod
    def of(cls, settings: Settings) -> "SummaryRequest":
        return cls(settings.baseline, settings.gate_rule())


def load_dataset(data: DataRequest, options: StorageOptions | None = None) -> FashionMNIST:
    """Fashion-MNIST from --data / $LENET_BATCH_DATA / the system package / the download cache, cut to the
    class-balanced subsets of --train-limit and --test-limit."""
    dataset = fashion_mnist.load(data.uri or None, options, verify=data.verify)
    return limited(dataset, data.train_limit, data.test_limit)


def raise_if_failed(results: Sequence[TrainResult | ScoreResult], stage: str) -> None:
    """Exit code 3 when some seeds failed (the others' outputs are kept)."""
    failed = [r.seed for r in results if r.status == "failed"]
    if failed:
        raise SeedsFailed(f"{stage}: {len(failed)} of {len(results)} seeds failed: {failed}")


def data_info(dataset: FashionMNIST, verify: bool) -> DataInfo:
    """What a run and each of its seeds record of the data, and are checked against on reuse."""
    return replace(dataset.info(), verified=verify)


def plan_training(run: RunRef, request: TrainRequest, dataset: FashionMNIST | None = None) -> list[SeedPlan]:
    """Each asked-for seed's plan: train, resume or skip (what `train` does, and `train --dry-run` shows).

    ConfigError (exit 2, nothing written) when a seed of the run recorded another recipe or, given the
    dataset, other data; without it only the recipe is compared, so that is refused before any loading.
    """
    seeds = list(request.seeds)
    data = data_info(dataset, request.data.verify) if dataset is not None else None
    return plan_seeds(run.run_id, seeds, run_states(run, seeds), request.recipe, data)


def train(run: RunRef, request: TrainRequest, dataset: FashionMNIST | None = None) -> list[TrainResult]:
    """Train the seeds with work left on Ray (--address, the open session, or a local Ray).

    The plan comes first: a run whose seeds are all complete starts no cluster. Otherwise Ray starts (and
    its workers import MXNet) while the data loads in a thread.
    """
    clock = run_record.StageClock.start()
    with run_record.marks_interruption(run, "train"):
        work = [p for p in plan_training(run, request) if p.action != SKIP]
        if not work:
            loaded = dataset or load_dataset(request.data, run.options)
            return _train_planned(run, request, loaded, clock)
        check_reachable_by_workers(run.output)
        check_local_gpus(request.cluster.gpus_per_seed, request.cluster.address)  # before Ray starts
        with _cluster_while_loading(run, request, dataset, len(work)) as loaded:
            return _train_planned(run, request, loaded, clock)


@contextlib.contextmanager
def _cluster_while_loading(
    run: RunRef, request: TrainRequest, dataset: FashionMNIST | None, tasks: int
) -> Iterator[FashionMNIST]:
    """Start or join Ray and warm `tasks` workers while the dataset loads in a thread; yields the dataset.

    Data that fails to load stops a Ray start under way; the cluster's GPUs are checked before the run is
    recorded."""
    cluster = request.cluster
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-data") as pool,
        contextlib.ExitStack() as stack,
    ):
        loading = pool.submit(load_dataset, request.data, run.options) if dataset is None else None
        from lenet_batch.cluster import resources, session, train_tasks, warmup  # Ray's import overlaps too

        with session.stopped_by_failure(loading):
            env, timeout = resources.thread_env(cluster.cpus_per_seed), cluster.connect_timeout
            stack.enter_context(session.ray_session(cluster.address, worker_env=env, connect_timeout=timeout))
            train_tasks.check_gpus(cluster.gpus_per_seed)
            warmup.warm_workers(cluster, tasks)
        yield dataset if loading is None else loading.result()


def _train_planned(
    run: RunRef, request: TrainRequest, dataset: FashionMNIST, clock: run_record.StageClock
) -> list[TrainResult]:
    """Check the plan against the data, record the run, train what is left (on the open session)."""
    info = data_info(dataset, request.data.verify)
    plans = plan_training(run, request, dataset)
    run_record.start(run, request.recorded_settings, info)
    results, todo = [], []
    for plan in plans:
        if plan.action == SKIP:
            results.append(skipped(seed_state(run, plan.seed)))
        else:
            log.info("seed %d: %s%s (%s)", plan.seed, plan.action, _from(plan), plan.reason)
            todo.append(plan.seed)
    if todo:
        from lenet_batch.cluster.train_tasks import train_seeds

        epochs = request.recipe.epochs
        log.info("run %s: training seeds %s for %d epochs into %s", run.run_id, todo, epochs, run.run_dir)
        results += train_seeds(
            run, todo, recipe=request.recipe, cluster=request.cluster, dataset=dataset, data_info=info
        )
    results.sort(key=lambda r: r.seed)
    run_record.update_stage(run, "train", [r.entry() for r in results], clock=clock)
    return results


def _from(plan: SeedPlan) -> str:
    return f" from epoch {plan.from_epoch}" if plan.action == RESUME else ""


def _seeds_to_score(run: RunRef, seeds: Sequence[int] | None) -> list[int]:
    """The seeds to score: every trained one, or those asked for, each of which must have a model (exit 2)."""
    complete = trained_seeds(run)  # DataError when the run does not exist
    if seeds is None:
        if not complete:
            raise DataError(f"run {run.run_id}: no seed has finished training; nothing to score")
        return complete
    unfinished = [s for s in seeds if s not in complete]
    if unfinished:
        raise ModelFileError(
            f"run {run.run_id} has no finished model for seed(s) {unfinished} (trained: "
            f"{complete or 'none'}); train them first, or leave them out of --seeds. Nothing was scored"
        )
    return list(seeds)


def infer(run: RunRef, request: InferRequest, dataset: FashionMNIST | None = None) -> list[ScoreResult]:
    """Score the input with the seeds' models, writing committed partitions."""
    clock = run_record.StageClock.start()
    source = request.source
    # Refused whichever path scores: where the work runs must not change what an output can be.
    check_reachable_by_workers(run.output, source.uri, source.labels_uri)
    check_local_gpus(request.cluster.gpus_per_seed, request.cluster.address)  # before Ray starts
    todo = _seeds_to_score(run, request.seeds)
    # A named --input has a stage of its own: the run's evaluation (stage "infer") is left as it was.
    stage = "infer" if source.partition_name is None else f"infer:{source.partition_name}"
    with run_record.marks_interruption(run, stage):
        if source.uri:
            source.batches(run.options)  # fail here, once, on a bad input file, rather than in every seed
        elif dataset is None:  # the run's evaluation: on the test subset it recorded (data/limits.py)
            data = evaluation_limits(request.data, run_record.read_run(run).data, run.run_id)
            dataset = load_dataset(data, run.options)
        results = sorted(_score(run, todo, request, dataset), key=lambda r: r.seed)
    run_record.update_stage(run, stage, [r.entry() for r in results], clock=clock, input=source.name)
    done = [r for r in results if r.status == "scored"]
    log.info("infer: %d/%d seeds scored, %d rows", len(done), len(results), sum(r.rows or 0 for r in done))
    return results


def _score(
    run: RunRef, seeds: list[int], request: InferRequest, dataset: FashionMNIST | None
) -> list[ScoreResult]:
    """Score in this process unless a cluster is involved or the work pays for a local Ray."""
    cluster, source = request.cluster, request.source
    on_ray = score_on_ray(
        address=cluster.address,
        env=os.environ,
        session_open="ray" in sys.modules and sys.modules["ray"].is_initialized(),
        gpus_per_seed=cluster.gpus_per_seed,
        seeds=len(seeds),
        images=_images_per_seed(source, dataset, run.options),
        slots=local_slots(cluster.cpus_per_seed),
    )
    if not on_ray and pin_threads(cluster.cpus_per_seed):
        log.info("scoring %d seeds in this process", len(seeds))
        return score_here(run, seeds, source, dataset)
    if not on_ray:
        log.info("MXNet already runs here with other thread caps: scoring on Ray instead")
    from lenet_batch.cluster.score_tasks import score_seeds
    from lenet_batch.cluster.session import ray_session

    with ray_session(cluster.address, connect_timeout=cluster.connect_timeout):
        return score_seeds(run, seeds, source=source, cluster=cluster, dataset=dataset)


def _images_per_seed(source: ImageSource, dataset: FashionMNIST | None, options: dict) -> int:
    """How many images each seed scores: the test split's, or an --input file's size / 784 (at most)."""
    if not source.uri:
        return len(dataset.test_images) if dataset is not None else 0
    fs, path = storage.get_fs(source.uri, options)
    with storage.storage_errors(source.uri):
        return int(fs.size(path)) // IMAGE_BYTES


def summarize(run: RunRef, request: SummaryRequest, dataset: FashionMNIST | None = None) -> "RunSummary":
    """Tables, plots, report and the regression gate for one run (raises RegressionDetected: exit 4)."""
    from lenet_batch.summary.report import comparison_line
    from lenet_batch.summary.stage import summarize_run

    images = dataset.arrays() if dataset is not None else None
    with run_record.marks_interruption(run, "summary"), _kept_outputs_named(run):
        result = summarize_run(run, baseline=request.baseline, rule=request.rule, images=images)
    log.info("%s", comparison_line(result))
    return result


@contextlib.contextmanager
def _kept_outputs_named(run: RunRef) -> Iterator[None]:
    """A summary that cannot be written (a full disk) says that the run's models are kept (not "nothing")."""
    try:
        yield
    except StorageError as exc:
        error = exc
        with contextlib.suppress(LenetError):  # a store that fails this check too keeps nothing to name
            if trained_seeds(run):
                error = StorageError(
                    f"{exc}; the summary of run {run.run_id} is incomplete, its trained models and "
                    f"predictions are kept: rerun `lenet-batch summary --run {run.run_id}` once the storage "
                    "is fixed"
                )
        raise error from None
