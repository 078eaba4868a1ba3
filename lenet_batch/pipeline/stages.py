"""The stages as users run them (train, infer, summary): what the CLI and jobs/ both call."""

import logging
from collections.abc import Sequence
from typing import Any

from lenet_batch.config import Settings
from lenet_batch.data import fashion_mnist
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.data.inputs import ImageSource
from lenet_batch.errors import DataError, SeedsFailed
from lenet_batch.store import run_record
from lenet_batch.store.backends import check_reachable_by_workers
from lenet_batch.store.layout import Layout, RunRef
from lenet_batch.store.seed_records import ScoreResult, TrainResult, load_complete, trained_seeds

log = logging.getLogger(__name__)


def run_ref(settings: Settings) -> RunRef:
    """The run these settings name, in their output location."""
    return Layout(settings.output, settings.storage_options).run(settings.resolved_run_id())


def load_dataset(settings: Settings) -> FashionMNIST:
    """Fashion-MNIST from --data / $LENET_BATCH_DATA / the system package / the download cache."""
    return fashion_mnist.load(settings.data or None, settings.storage_options, verify=settings.verify_data)


def image_source(settings: Settings) -> ImageSource:
    """What the infer stage scores: --input (with --input-labels), else the test split of --data."""
    return ImageSource(
        uri=settings.input or None,
        labels_uri=settings.input_labels or None,
        data_uri=settings.data or None,
        verify=settings.verify_data,
        batch_size=settings.infer_batch_size,
        input_name=settings.input_name or None,
    )


def raise_if_failed(results: Sequence[TrainResult | ScoreResult], stage: str) -> None:
    """Exit code 3 when some seeds failed (the others' outputs are kept)."""
    failed = [r.seed for r in results if r.status == "failed"]
    if failed:
        raise SeedsFailed(f"{stage}: {len(failed)} of {len(results)} seeds failed: {failed}")


def train(settings: Settings, run: RunRef, dataset: FashionMNIST | None = None) -> list[TrainResult]:
    """Train every seed on Ray (joining --address, the session already open, or a local Ray)."""
    from lenet_batch.cluster.session import ray_session
    from lenet_batch.cluster.train_tasks import train_seeds

    check_reachable_by_workers(run.output)
    clock = run_record.StageClock.start()
    dataset = dataset or load_dataset(settings)
    run_record.start(run, settings, dataset.info())
    seeds = settings.seed_list()
    log.info(
        "run %s: training seeds %s for %d epochs into %s", run.run_id, seeds, settings.epochs, run.run_dir
    )
    with ray_session(settings.address):
        results = train_seeds(settings, dataset, run, seeds)
    run_record.update_stage(run, "train", [r.to_row() for r in results], clock=clock)
    return results


def _seeds_to_score(run: RunRef, seeds: list[int] | None) -> tuple[list[int], list[ScoreResult]]:
    """(seeds to score, failures for asked-for seeds whose training is not complete)."""
    complete = trained_seeds(run)  # DataError when the run does not exist
    if seeds is None:
        if not complete:
            raise DataError(f"run {run.run_id}: no seed has finished training; nothing to score")
        return complete, []
    unfinished = [s for s in seeds if load_complete(run, s) is None]
    error = "ModelFileError: seed {} has no finished model in run " + run.run_id
    failures = [ScoreResult(s, "failed", error=error.format(s)) for s in unfinished]
    for failure in failures:
        log.error("seed %d: not scored: %s", failure.seed, failure.error)
    return [s for s in seeds if s not in unfinished], failures


def infer(
    settings: Settings, run: RunRef, seeds: list[int] | None = None, dataset: FashionMNIST | None = None
) -> list[ScoreResult]:
    """Score the input with the seeds' models (None: every trained seed), writing committed partitions."""
    from lenet_batch.cluster.score_tasks import score_seeds
    from lenet_batch.cluster.session import ray_session

    clock = run_record.StageClock.start()
    source = image_source(settings)
    check_reachable_by_workers(run.output, source.uri, source.labels_uri)
    todo, failures = _seeds_to_score(run, seeds)
    if source.uri:
        source.batches(run.options)  # fail here, once, on a bad input file, rather than in every task
    elif dataset is None and todo:
        dataset = load_dataset(settings)
    results = failures
    if todo:
        with ray_session(settings.address):
            results = sorted(
                failures + score_seeds(settings, run, todo, source, dataset), key=lambda r: r.seed
            )
    # A named --input has a stage of its own: the run's evaluation (stage "infer") is left as it was.
    stage = "infer" if source.partition_name is None else f"infer:{source.partition_name}"
    run_record.update_stage(run, stage, [r.to_row() for r in results], clock=clock, input=source.name)
    scored = [r for r in results if r.status == "scored"]
    log.info(
        "infer: %d/%d seeds scored, %d rows", len(scored), len(results), sum(r.rows or 0 for r in scored)
    )
    return results


def summarize(settings: Settings, run: RunRef, dataset: FashionMNIST | None = None) -> dict[str, Any]:
    """Tables, plots, report and the regression gate for one run (raises RegressionDetected: exit 4)."""
    from lenet_batch.summary.gate import GateRule
    from lenet_batch.summary.report import comparison_line
    from lenet_batch.summary.stage import summarize_run

    images = dataset.arrays() if dataset is not None else None
    rule = GateRule.from_settings(settings)
    result = summarize_run(run, baseline=settings.baseline, rule=rule, images=images)
    log.info("%s", comparison_line(result))
    return result
