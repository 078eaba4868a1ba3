"""What a seed's task asks Ray for, which device it uses, and how its error reads (pure: no Ray import)."""

from typing import Any

from lenet_batch.config import ClusterOptions


def task_options(cluster: ClusterOptions, inherited_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Ray options of one seed's task: its CPUs and GPUs, retries on worker death, thread caps.

    `inherited_env` is what the workers of a local Ray we started inherited from this driver: when it
    already holds the thread caps the task asks for no runtime_env, so that the workers Ray starts with
    the node (and warms while the data loads) can run it; any runtime_env would need new workers.
    """
    options = {
        "num_cpus": cluster.cpus_per_seed,
        "num_gpus": cluster.gpus_per_seed,
        "max_retries": cluster.max_retries,  # system failures (worker death) only
        "retry_exceptions": False,  # a seed's own error is not retried
    }
    env = thread_env(cluster.cpus_per_seed)
    if not inherited_env or any(inherited_env.get(k) != v for k, v in env.items()):
        options["runtime_env"] = {"env_vars": env}
    return options


def thread_env(cpus: float) -> dict[str, str]:
    """MXNet's CPU results depend on the OpenMP thread count: fix it to the task's CPUs (and record it)."""
    return {"OMP_NUM_THREADS": str(max(1, int(cpus))), "MXNET_CPU_WORKER_NTHREADS": "1"}


def error_text(exc: BaseException) -> str:
    """'Type: last line of the message' of a seed's own error (the cause inside Ray's wrapper, if any)."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text.splitlines()[-1] if text else ''}".rstrip(": ")[:500]


def context_for(gpu_ids: list[int] | list[str], cuda_visible_devices: str | None = None) -> tuple[str, int]:
    """("gpu", i) for the first GPU Ray assigned, ("cpu", 0) when it assigned none.

    Ray sets CUDA_VISIBLE_DEVICES to the assigned GPUs, so inside the task the first one is device 0
    unless the variable is unset (then the assigned id is the physical index).
    """
    if not gpu_ids:
        return ("cpu", 0)
    if cuda_visible_devices is None or cuda_visible_devices == "":
        return ("gpu", int(gpu_ids[0]))
    visible = [d.strip() for d in cuda_visible_devices.split(",") if d.strip()]
    first = str(gpu_ids[0])
    return ("gpu", visible.index(first) if first in visible else 0)
