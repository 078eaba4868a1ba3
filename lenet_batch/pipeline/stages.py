"""The stages of a run (train, infer, summary), each given the run and a small request of what it uses.

The CLI's subcommands and the nightly call them (jobs/ run the CLI); a request is made from the resolved
settings once, by its `of`, so that no stage reads the whole Settings.
"""

import contextlib
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lenet_batch.cluster.preflight import check_local_gpus
from lenet_batch.config import ClusterOptions, DataRequest, GateRule, Recipe, Settings
from lenet_batch.data import fashion_mnist
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.data.inputs import ImageSource
from lenet_batch.data.limits import limited
from lenet_batch.errors import LenetError, SeedsFailed, StorageError
from lenet_batch.pipeline import infer_work, run_data
from lenet_batch.records import DataInfo
from lenet_batch.scoring.committed import require_committed
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


def written(run: RunRef) -> tuple[bytes | None, bytes | None]:
    """run.json and summary.json as they are now: a command that changed neither wrote nothing."""
    return tuple(  # type: ignore[return-value]
        storage.read_bytes(uri, run.options) if storage.exists(uri, run.options) else None
        for uri in (run.run_json, run.summary_json)
    )


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
    if _nothing_to_train(run, plans):
        log.info("train: nothing to do: every seed of run %s is complete", run.run_id)
        return [skipped(seed_state(run, plan.seed)) for plan in plans]
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


def _nothing_to_train(run: RunRef, plans: list[SeedPlan]) -> bool:
    """Every asked-for seed is complete and run.json records the train stage complete for them."""
    record = run_record.read_run(run)
    recorded = {row.seed for row in record.stage_seeds("train")}
    done = record.stage_status("train") == "complete" and all(p.action == SKIP for p in plans)
    return done and {p.seed for p in plans} <= recorded


def _from(plan: SeedPlan) -> str:
    return f" from epoch {plan.from_epoch}" if plan.action == RESUME else ""


def infer(
    run: RunRef, request: InferRequest, dataset: FashionMNIST | None = None, force: bool = False
) -> list[ScoreResult]:
    """Score the input with the seeds' models, writing committed partitions; a seed already scored from its
    model and this input is skipped (`force`: scored again), and a stage with nothing new writes nothing."""
    clock = run_record.StageClock.start()
    source = request.source
    # Refused whichever path scores: where the work runs must not change what an output can be.
    check_reachable_by_workers(run.output, source.uri, source.labels_uri)
    check_local_gpus(request.cluster.gpus_per_seed, request.cluster.address)  # before Ray starts
    seeds = infer_work.seeds_to_score(run, request.seeds)
    # A named --input has a stage of its own: the run's evaluation (stage "infer") is left as it was.
    stage = "infer" if source.partition_name is None else f"infer:{source.partition_name}"
    with run_record.marks_interruption(run, stage):
        source, loaded = run_data.sealed_source(run, request.source, request.data, dataset)
        results, todo = infer_work.split_done(run, seeds, source, force)
        if todo and not source.uri and loaded is None:
            loaded = run_data.load_for_run(run, run_data.data_for_run(run, request.data))
        if todo:
            results += infer_work.score(run, todo, source, request.cluster, loaded)
        results.sort(key=lambda r: r.seed)
    if infer_work.unchanged(run_record.read_run(run), stage, results):
        log.info("infer: nothing to do: every seed was already scored from its model and this input")
        return results
    run_record.update_stage(run, stage, [r.entry() for r in results], clock=clock, input=source.name)
    done = [r for r in results if r.status == "scored"]
    log.info("infer: %d/%d seeds scored, %d rows", len(done), len(results), sum(r.rows or 0 for r in done))
    return results


def summarize(
    run: RunRef,
    request: SummaryRequest,
    dataset: FashionMNIST | None = None,
    data: DataRequest | None = None,
    force: bool = False,
) -> "RunSummary":
    """Tables, plots, report and the regression gate for one run (raises RegressionDetected: exit 4).

    Nothing new since the run's last summary: that one is reused and nothing is written (`force`: made
    again). The pictures use `dataset`, else the run's recorded data (`data`: the --data request, refused
    when its test split is not the run's), loaded only when a summary is made.
    """
    from lenet_batch.summary.report import comparison_line
    from lenet_batch.summary.stage import summarize_run

    if dataset is None and data is not None and data.uri:  # other test data: refused before any writing
        require_committed(run.layout, run.run_id)  # a run with nothing to summarise says so first
        dataset = run_data.load_for_run(run, run_data.data_for_run(run, data))
    images = dataset.arrays() if dataset is not None else None
    load = (lambda: run_data.pictures(run, data)) if data is not None and images is None else None
    with run_record.marks_interruption(run, "summary"), _kept_outputs_named(run):
        result = summarize_run(
            run, baseline=request.baseline, rule=request.rule, images=images, load_images=load, force=force
        )
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
