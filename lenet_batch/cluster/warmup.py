"""Workers that import MXNet and build LeNet-5 before their seed's task arrives.

A fresh Ray worker spends seconds importing MXNet and building the graph when its first task arrives,
serially with the work. Warm-up tasks with the seeds' own resources start those workers (or take the ones
Ray started with the node) as soon as the session is up, while the driver still loads the data; the seed
tasks queue behind them and run in the same, now warm, processes (Ray reuses a worker for tasks of the
same job and runtime_env).
"""

import importlib
import logging
import os
from typing import Any

import ray

from lenet_batch.cluster.resources import task_options
from lenet_batch.cluster.session import inherited_env
from lenet_batch.config import ClusterOptions

log = logging.getLogger(__name__)
WARM_BATCH = 256
WARM_MODULES = ("lenet_batch.training.seed", "lenet_batch.scoring.seed")


def warm_up() -> int:
    """In this process: import what the seed tasks run and build LeNet-5 once; returns the pid.

    Nothing here touches a random generator a seed's training uses without reseeding it first.
    """
    import mxnet as mx

    from lenet_batch.training import model

    for module in WARM_MODULES:
        importlib.import_module(module)
    net = model.create_lenet(mx.cpu())
    net(mx.nd.zeros((WARM_BATCH, *model.INPUT_SHAPE))).wait_to_read()
    return os.getpid()


_warm = ray.remote(warm_up)


def warm_workers(cluster: ClusterOptions, tasks: int) -> list[Any]:
    """Start warm-up tasks for up to `tasks` seed tasks' workers; returns their refs (nobody waits)."""
    options = task_options(cluster, inherited_env())
    if options.get("num_gpus"):  # a GPU task may not reuse its worker: nothing to gain
        return []
    cpus = ray.cluster_resources().get("CPU", 0)
    slots = int(cpus // options["num_cpus"]) if options["num_cpus"] else tasks
    count = min(tasks, slots)
    keep = {k: options[k] for k in ("num_cpus", "runtime_env") if k in options}
    log.debug("warming %d workers", count)
    return [_warm.options(**keep, max_retries=0).remote() for _ in range(count)]
