"""The real work of each command a person types, timed in-process after its imports (`lenet-batch` itself
is timed from outside by run.py): the ratio of the two is what a command costs beyond its work.
"""

import time
from typing import Any

QUERY = (
    "SELECT seed, avg(correct::int) AS accuracy, count(*) AS n FROM predictions GROUP BY seed ORDER BY seed"
)
PREDICT_FIRST = 10_000


def _settings(params: dict):
    from lenet_batch.config import Settings

    return Settings(output=params["output"], run_id=params["run_id"], seeds=params.get("seeds"), epochs=1)


def _data(params: dict) -> None:
    from lenet_batch.pipeline import stages

    stages.load_dataset(_settings(params).data_request())


def _train(params: dict) -> None:
    from lenet_batch.pipeline import stages

    settings = _settings(params)
    rows = stages.train(settings.run_ref(), stages.TrainRequest.of(settings))
    assert all(r.status == "skipped" for r in rows), rows


def _infer(params: dict) -> None:
    from lenet_batch.pipeline import stages

    settings = _settings(params)
    rows = stages.infer(settings.run_ref(), stages.InferRequest.of(settings))
    assert all(r.status == "scored" for r in rows), rows


def _summary(params: dict) -> None:
    from lenet_batch.pipeline import stages

    settings = _settings(params)
    stages.summarize(
        settings.run_ref(),
        stages.SummaryRequest.of(settings),
        stages.load_dataset(settings.data_request()),
    )


def _query(params: dict) -> None:
    from lenet_batch.scoring.query import run_query
    from lenet_batch.store.layout import Layout

    assert run_query(QUERY, Layout(params["output"]), run_id=params["run_id"]).num_rows > 0


def _predict(params: dict) -> None:
    from lenet_batch.pipeline import stages
    from lenet_batch.scoring.seed import load_model, predict_classes

    settings = _settings(params)
    images = stages.load_dataset(settings.data_request()).test_images[:PREDICT_FIRST]
    run = settings.run_ref()
    predict_classes(run, 0, load_model(run, 0), images)


WORK = {
    "data": _data,
    "train": _train,
    "infer": _infer,
    "summary": _summary,
    "query": _query,
    "predict": _predict,
}
# What each command imports before its work starts (their import is the command's overhead, not its work).
IMPORTS = {
    "infer": ("lenet_batch.scoring.seed",),
    "summary": ("lenet_batch.summary.stage",),
    "query": ("lenet_batch.scoring.query",),
    "predict": ("lenet_batch.scoring.seed",),
}


def work(params: dict) -> dict[str, Any]:
    """Seconds of one command's work in this process, its imports done first."""
    import importlib

    from lenet_batch.pipeline import local_scoring

    local_scoring.pin_threads(1)  # before MXNet loads, as the command does
    for module in ("lenet_batch.pipeline.stages", *IMPORTS.get(params["command"], ())):
        importlib.import_module(module)
    started, cpu = time.perf_counter(), time.process_time()
    WORK[params["command"]](params)
    return {"work_seconds": time.perf_counter() - started, "work_cpu_seconds": time.process_time() - cpu}


KINDS = {"work": work}
