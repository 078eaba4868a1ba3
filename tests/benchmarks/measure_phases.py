"""Where the time of a Ray train stage goes: the driver's steps and one seed's task, phase by phase.

    python -m tests.benchmarks.measure ray-phases '{"seeds": 2, "epochs": 2, "output": "/tmp/x"}'

The driver runs the train stage's own steps (data load in a thread while Ray starts, warm-up, put, tasks,
shutdown) and times each. Each seed runs the product's run_seed in a task of the same options as
_train_task, with timers wrapped around the training loop's functions inside the worker, so the task's
time splits into: waiting for a worker (and the arrays), imports, set-up, the first epoch (with the
hybridized graph), a later epoch, evaluation, checkpoints and writes.
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PHASES = ("imports", "setup", "first_epoch", "later_epochs", "evaluation", "checkpoints", "writes")


def _timed(store: dict[str, float], name: str, func):
    """func, adding its wall seconds to store[name] at every call."""

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            store[name] = store.get(name, 0.0) + time.perf_counter() - started

    return wrapper


def phased_seed(arrays, data_info, recipe, seed: int, run, sent_at: float) -> dict[str, Any]:
    """In the worker: run_seed with its loop's functions timed; the phases in seconds."""
    entered = time.time()
    started = time.perf_counter()
    from lenet_batch.training import loop
    from lenet_batch.training import seed as seed_module

    took: dict[str, float] = {"imports": time.perf_counter() - started}
    originals = (loop.train_epoch, loop.evaluate, seed_module.save_checkpoint, seed_module._commit)
    epochs: list[float] = []

    def epoch(*args, **kwargs):
        began = time.perf_counter()
        try:
            return originals[0](*args, **kwargs)
        finally:
            epochs.append(time.perf_counter() - began)

    loop.train_epoch, loop.evaluate = epoch, _timed(took, "evaluation", originals[1])
    seed_module.save_checkpoint = _timed(took, "checkpoints", originals[2])
    seed_module._commit = _timed(took, "writes", originals[3])
    try:
        began = time.perf_counter()
        seed_module.run_seed(arrays, data_info=data_info, recipe=recipe, seed=seed, run=run)
        whole = time.perf_counter() - began
    finally:
        loop.train_epoch, loop.evaluate, seed_module.save_checkpoint, seed_module._commit = originals
    took["first_epoch"] = epochs[0]  # with hybridize's graph and the first allocations
    took["later_epochs"] = sum(epochs[1:]) / max(1, len(epochs) - 1)  # each, on average
    took["setup"] = whole - sum(epochs) - took["evaluation"] - took["checkpoints"] - took["writes"]
    return {"seed": seed, "waited_for_worker": entered - sent_at, "pid": os.getpid(), **took}


def ray_phases(params: dict) -> dict[str, Any]:
    """The train stage's steps on a fresh local Ray, timed in the driver, and each task's phases."""
    clock: dict[str, float] = {}
    begun = time.perf_counter()
    from lenet_batch.config import Recipe, Settings

    settings = Settings(seeds=f"0-{params['seeds'] - 1}", epochs=params["epochs"], output=params["output"])
    request, run = _request(settings), settings.run_ref()
    with ThreadPoolExecutor(max_workers=1) as pool:
        loading = pool.submit(_load, request, run, clock)
        found = _on_ray(request, run, loading, clock, Recipe(epochs=params["epochs"]))
    return {"driver": {**clock, "whole": time.perf_counter() - begun}, **found}


def _request(settings):
    from lenet_batch.pipeline import stages

    return stages.TrainRequest.of(settings)


def _load(request, run, clock: dict[str, float]):
    from lenet_batch.pipeline.stages import load_dataset

    started = time.perf_counter()
    dataset = load_dataset(request.data, run.options)
    clock["data_load"] = time.perf_counter() - started
    return dataset


def _on_ray(request, run, loading, clock: dict[str, float], recipe) -> dict[str, Any]:
    """Start Ray, warm, put, run the phased tasks, stop Ray: each step timed."""
    started = time.perf_counter()
    import ray

    from lenet_batch.cluster import resources, session, warmup
    from lenet_batch.pipeline.stages import data_info

    clock["ray_import"] = time.perf_counter() - started
    cluster, seeds = request.cluster, list(request.seeds)
    with session.ray_session(worker_env=resources.thread_env(1)):
        clock["ray_start"] = time.perf_counter() - started - clock["ray_import"]
        with _step(clock, "warm_submit"):
            warmup.warm_workers(cluster, len(seeds))
        with _step(clock, "data_wait"):
            dataset = loading.result()
        with _step(clock, "put"):
            arrays = ray.put(dataset.arrays())
        info = data_info(dataset, request.data.verify)
        options = resources.task_options(cluster, session.inherited_env())
        task = ray.remote(phased_seed).options(**options)
        with _step(clock, "tasks"):
            refs = [task.remote(arrays, info, recipe, seed, run, time.time()) for seed in seeds]
            tasks = ray.get(refs)
        stop_started = time.perf_counter()
    clock["ray_stop"] = time.perf_counter() - stop_started
    return {"tasks": tasks}


class _step:
    """Times its block into clock[name]."""

    def __init__(self, clock: dict[str, float], name: str) -> None:
        self.clock, self.name = clock, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.clock[self.name] = time.perf_counter() - self.started


def plain_phases(params: dict) -> dict[str, Any]:
    """One seed in this process, no Ray: the training stack's import, the data load, then the same phases
    a task has (what the Ray path is compared with, phase by phase)."""
    started = time.perf_counter()
    import lenet_batch.training.seed  # noqa: F401 - MXNet and the training stack, as a worker imports them
    from lenet_batch.config import Recipe, Settings
    from lenet_batch.pipeline.stages import data_info, load_dataset

    imported = time.perf_counter() - started
    settings = Settings(seeds=str(params["seed"]), epochs=params["epochs"], output=params["output"])
    request, run = _request(settings), settings.run_ref()
    began = time.perf_counter()
    dataset = load_dataset(request.data, run.options)
    loaded = time.perf_counter() - began
    info = data_info(dataset, request.data.verify)
    recipe = Recipe(epochs=params["epochs"])
    phases = phased_seed(dataset.arrays(), info, recipe, params["seed"], run, time.time())
    return {**phases, "imports": imported, "data_load": loaded, "waited_for_worker": 0.0}


KINDS = {"ray-phases": ray_phases, "plain-phases": plain_phases}
