"""Where a stage's seeds run: in this process, or as Ray tasks (pure logic; the crossover is in make bench).

Starting a local Ray, its workers and their MXNet costs seconds before the first image is scored, while one
core scores a 10,000-image test split with one seed in about a second. Scoring stays in the driver unless
a cluster is involved (--address, a Ray job, a session already open) or the work is large enough for
several local cores to win back that start.
"""

import os
from collections.abc import Mapping

# Seeds x images above which a local Ray's parallel scoring beats scoring seed after seed in the driver:
# the crossover `make bench` measures (section "infer", in-process vs local Ray) on 2 cores.
LOCAL_RAY_MIN_IMAGES = 1_000_000
# A Ray job's driver gets RAY_ADDRESS and its job config from the job supervisor; Ray workers get
# RAY_JOB_ID.
RAY_JOB_VARIABLES = ("RAY_ADDRESS", "RAY_JOB_CONFIG_JSON_ENV_VAR", "RAY_JOB_ID")


def inside_ray_job(env: Mapping[str, str]) -> bool:
    """True in the driver of a Ray job (`ray job submit`, KubeRay RayJob) or inside a Ray worker."""
    return any(env.get(name) for name in RAY_JOB_VARIABLES)


def local_slots(cpus_per_seed: float, cores: int | None = None) -> int:
    """How many seeds a local Ray would run at once on this machine's usable cores."""
    cores = cores if cores is not None else len(os.sched_getaffinity(0))
    return int(cores // cpus_per_seed) if cpus_per_seed > 0 else cores


def score_on_ray(
    *,
    address: str,
    env: Mapping[str, str],
    session_open: bool,
    gpus_per_seed: float,
    seeds: int,
    images: int,
    slots: int,
) -> bool:
    """Whether to score `seeds` seeds of `images` images each as Ray tasks rather than in this process."""
    if address or session_open or inside_ray_job(env) or gpus_per_seed > 0:
        return True
    return slots >= 2 and seeds >= 2 and seeds * images >= LOCAL_RAY_MIN_IMAGES
