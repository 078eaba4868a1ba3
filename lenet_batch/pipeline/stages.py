"""The stages of a run (train, infer, summary), each carrying out its steps of the plan (pipeline/plan.py)
on the run's owner (pipeline/owner.py) and returning what it wrote; the owner records each in run.json.

The CLI's subcommands (pipeline/single.py) and the nightly call them; jobs/ run the CLI.
"""

import contextlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from lenet_batch.config import DataRequest
from lenet_batch.data import fashion_mnist
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.data.inputs import ImageSource
from lenet_batch.data.limits import limited
from lenet_batch.errors import (
    EXIT_OK,
    EXIT_REGRESSION,
    GateInconclusive,
    RegressionDetected,
    SeedsFailed,
    StorageError,
)
from lenet_batch.pipeline import infer_work
from lenet_batch.pipeline.owner import RunOwner
from lenet_batch.pipeline.plan import RECORD, RESUME, SCORE, SKIP, TRAIN, Plan, refuse_other_settings
from lenet_batch.pipeline.requests import (
    InferRequest,
    SummaryRequest,
    TrainRequest,
    summary_digest,
    train_plan_request,
)
from lenet_batch.records import DataInfo
from lenet_batch.state.run_state import SeedState
from lenet_batch.store.backends import StorageOptions
from lenet_batch.store.run_record import StageClock
from lenet_batch.store.seed_records import ScoreResult, TrainResult
from lenet_batch.store.storage import join
from lenet_batch.summary.baseline import Baseline
from lenet_batch.summary.types import RunSummary

log = logging.getLogger(__name__)


def load_dataset(data: DataRequest, options: StorageOptions | None = None) -> FashionMNIST:
    """Fashion-MNIST from --data / $LENET_BATCH_DATA / the system package / the download cache, cut to the
    class-balanced subsets of --train-limit and --test-limit."""
    dataset = fashion_mnist.load(data.uri or None, options, verify=data.verify)
    return limited(dataset, data.train_limit, data.test_limit)


def raise_if_failed(results: list[TrainResult] | list[ScoreResult], stage: str) -> None:
    """Exit code 3 when some seeds failed (the others' outputs are kept); the rows are its document."""
    failed = [r.seed for r in results if r.status == "failed"]
    if failed:
        raise SeedsFailed(
            f"{stage}: {len(failed)} of {len(results)} seeds failed: {failed}", document=results
        )


def data_info(dataset: FashionMNIST, verify: bool) -> DataInfo:
    """What a run and each of its seeds record of the data, and are checked against on reuse."""
    return replace(dataset.info(), verified=verify)


def skipped(seed: SeedState) -> TrainResult:
    """A complete seed's row when it is not trained again (logged once, where the plan is carried out)."""
    m = seed.metrics
    assert m is not None  # the plan skips finished seeds only
    log.info("seed %d: already complete (test accuracy %.4f), skipped", seed.seed, m.test_accuracy)
    return TrainResult(seed.seed, "skipped", m.test_accuracy, m.train_seconds, len(m.attempts), metrics=m)


def train(
    owner: RunOwner, plan: Plan, request: TrainRequest, dataset: FashionMNIST | None = None
) -> tuple[list[TrainResult], FashionMNIST | None]:
    """Carry out the train steps: the seeds to train or resume on Ray (which starts while the data loads),
    then the stage's entry in run.json; returns the seeds' rows and the dataset if it was loaded."""
    clock = StageClock.start()
    with owner.stage("train"):
        results = [skipped(owner.state.seed(s)) for s in plan.seeds("train", SKIP)]
        todo = plan.seeds("train", TRAIN, RESUME)
        if not plan.does("train"):
            return results, dataset
        if todo:
            with _cluster_while_loading(owner, request, dataset, len(todo)) as loaded:
                dataset = loaded
                results += _train_planned(owner, plan, request, loaded)
        elif any(s.action == RECORD for s in plan.stage("train")):
            dataset = dataset or load_dataset(request.data, owner.run.options)
            _record_start(owner, request, dataset)
        results.sort(key=lambda r: r.seed)
        owner.stage_done("train", clock.entry([r.entry() for r in results]))
    return results, dataset


def _record_start(owner: RunOwner, request: TrainRequest, dataset: FashionMNIST) -> DataInfo:
    """Refuse data the run's seeds did not record (exit 2, nothing written), then record the run."""
    info = data_info(dataset, request.data.verify)
    refuse_other_settings(owner.state, train_plan_request(request, info))
    owner.start(config=request.recorded_settings, recipe=request.recipe, seeds=request.seeds, data=info)
    return info


def _train_planned(
    owner: RunOwner, plan: Plan, request: TrainRequest, dataset: FashionMNIST
) -> list[TrainResult]:
    """Record the run, then train the planned seeds on the open Ray session."""
    from lenet_batch.cluster.train_tasks import train_seeds

    info = _record_start(owner, request, dataset)
    todo = [s for s in plan.stage("train") if s.action in (TRAIN, RESUME)]
    for step in todo:
        start = f" from epoch {step.from_epoch}" if step.action == RESUME else ""
        log.info("seed %d: %s%s (%s)", step.seed, step.action, start, step.reason)
    seeds = [s.seed for s in todo if s.seed is not None]
    epochs = request.recipe.epochs
    log.info(
        "run %s: training seeds %s for %d epochs into %s", owner.run.run_id, seeds, epochs, owner.run.run_dir
    )
    results = train_seeds(
        owner.run, seeds, recipe=request.recipe, cluster=request.cluster, dataset=dataset, data_info=info
    )
    owner.trained(results)
    return results


@contextlib.contextmanager
def _cluster_while_loading(
    owner: RunOwner, request: TrainRequest, dataset: FashionMNIST | None, tasks: int
) -> Iterator[FashionMNIST]:
    """Start or join Ray and warm `tasks` workers while the dataset loads in a thread; yields the dataset.

    Data that fails to load stops a Ray start under way; the cluster's GPUs are checked before the run is
    recorded."""
    cluster = request.cluster
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-data") as pool,
        contextlib.ExitStack() as stack,
    ):
        loading = pool.submit(load_dataset, request.data, owner.run.options) if dataset is None else None
        from lenet_batch.cluster import resources, session, train_tasks, warmup  # Ray's import overlaps too

        with session.stopped_by_failure(loading):
            env, timeout = resources.thread_env(cluster.cpus_per_seed), cluster.connect_timeout
            stack.enter_context(session.ray_session(cluster.address, worker_env=env, connect_timeout=timeout))
            train_tasks.check_gpus(cluster.gpus_per_seed)
            warmup.warm_workers(cluster, tasks)
        yield dataset if loading is None else loading.result()


def _already_scored(seed: SeedState) -> ScoreResult:
    marker = seed.marker
    assert marker is not None  # the plan skips marked seeds only
    log.info("seed %d: already scored from its model and input %s, skipped", seed.seed, marker.input_sha256)
    return ScoreResult(seed.seed, "skipped", marker.rows, marker.accuracy(), marker=marker)


def infer(
    owner: RunOwner, plan: Plan, request: InferRequest, source: ImageSource, dataset: FashionMNIST | None
) -> list[ScoreResult]:
    """Carry out the infer steps: score the planned seeds (their checked models over the sealed source)
    into committed partitions, then the stage's entry in run.json."""
    clock = StageClock.start()
    evaluation = source.partition_name is None  # a named --input has a stage of its own
    stage = "infer" if evaluation else f"infer:{source.partition_name}"
    with owner.stage(stage):
        results = [_already_scored(owner.state.seed(s)) for s in plan.seeds("infer", SKIP)]
        todo = plan.seeds("infer", SCORE)
        if todo:
            metrics = {s: owner.state.seed(s).metrics for s in todo}
            results += infer_work.score(owner.run, todo, source, request.cluster, dataset, metrics)
            owner.scored(results, evaluation)
        results.sort(key=lambda r: r.seed)
        if not plan.does("infer"):
            log.info("infer: nothing to do: every seed was already scored from its model and this input")
            return results
        owner.stage_done(stage, clock.entry([r.entry() for r in results], input=source.name))
    done = [r for r in results if r.status == "scored"]
    log.info("infer: %d/%d seeds scored, %d rows", len(done), len(results), sum(r.rows or 0 for r in done))
    return results


def summarize(
    owner: RunOwner,
    plan: Plan,
    base: Baseline,
    request: SummaryRequest,
    load_images: Callable[[], dict | None],
) -> RunSummary:
    """Carry out the summary step: make the summary (tables, plots, report, the gate's verdict) or reuse the
    one that stands; raises RegressionDetected (exit 4) or GateInconclusive (exit 8, unless --fail-on
    regressed) with it as its document."""
    from lenet_batch.summary.report import comparison_line
    from lenet_batch.summary.stage import stage_entry, summarize_run

    step = plan.stage("summary")[0]
    if step.action in (SKIP, RECORD):
        summary = _standing_summary(owner)
        if step.action == RECORD:
            owner.stage_done("summary", stage_entry(summary, None))
    else:
        clock = StageClock.start()
        log.info("run %s: summarising (%s)", owner.run.run_id, step.reason)
        with owner.stage("summary"), _kept_outputs_named(owner):
            digest, rule = summary_digest(owner.state, base, request.rule), request.rule
            summary = summarize_run(owner.state, base, rule=rule, images=load_images(), inputs_digest=digest)
            owner.summarised(summary)
            owner.stage_done("summary", stage_entry(summary, clock))
    log.info("%s", comparison_line(summary))
    raise_if_judged(owner.run.run_id, summary, request.fail_on, summary)
    return summary


def raise_if_judged(run_id: str, summary: RunSummary, fail_on: str, document: object) -> None:
    """RegressionDetected (exit 4) for a regressed night, GateInconclusive (exit 8) for an inconclusive one
    unless --fail-on regressed; `document` is what the command prints with it."""
    from lenet_batch.summary.gate import exit_code

    cmp = summary.comparison
    code = exit_code(cmp, fail_on)
    if code == EXIT_OK or cmp is None:
        return
    error = RegressionDetected if code == EXIT_REGRESSION else GateInconclusive
    raise error(f"run {run_id}: {cmp.line()} (report: {summary.report_html})", document=document)


def _standing_summary(owner: RunOwner) -> RunSummary:
    """The run's summary as it stands, named where its reports are now (an output copied or moved
    elsewhere names its old place in summary.json)."""
    summary = owner.state.summary
    assert summary is not None  # the plan reuses a summary that reads
    folder = owner.run.summary_dir
    log.info(
        "run %s: nothing new since its summary of %s: reusing it", owner.run.run_id, summary.generated_at
    )
    return replace(summary, report_html=join(folder, "report.html"), report_md=join(folder, "report.md"))


@contextlib.contextmanager
def _kept_outputs_named(owner: RunOwner) -> Iterator[None]:
    """A summary that cannot be written (a full disk) says that the run's models are kept (not "nothing")."""
    try:
        yield
    except StorageError as exc:
        if not owner.state.finished_seeds():
            raise
        raise StorageError(
            f"{exc}; the summary of run {owner.run.run_id} is incomplete, its trained models and "
            f"predictions are kept: rerun `lenet-batch summary --run {owner.run.run_id}` once the storage "
            "is fixed"
        ) from None
