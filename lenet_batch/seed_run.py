"""Train one seed into its output folder: skip when complete, resume from the last epoch checkpoint.

This is the plain function a Ray task wraps; it knows nothing of Ray.
"""

import datetime as dt
import hashlib
import logging
import os
import platform
import socket
import sys
import time
from typing import Any

import mxnet as mx
import numpy as np

from lenet_batch import __version__, storage
from lenet_batch.config import Recipe
from lenet_batch.errors import StorageError
from lenet_batch.model import mx_context
from lenet_batch.storage import Layout
from lenet_batch.train import Checkpoint, EpochMetrics, train_seed

log = logging.getLogger(__name__)


def now_utc() -> str:
    """The current UTC time, ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Library versions that decide the bits a run produces."""
    return {
        "lenet_batch": __version__,
        "mxnet": mx.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def load_complete(layout: Layout, run_id: str, seed: int, options: dict | None) -> dict | None:
    """The seed's metrics.json when its outputs are complete (metrics.json is written last), else None."""
    uri = layout.metrics_json(run_id, seed)
    if not storage.exists(uri, options):
        return None
    metrics = storage.read_json(uri, options)
    return metrics if metrics.get("status") == "complete" else None


def record_attempt(layout: Layout, run_id: str, seed: int, options: dict | None) -> list[dict]:
    """Append this attempt (host, pid, time) to attempts.json; returns the list."""
    uri = layout.attempts_json(run_id, seed)
    attempts = storage.read_json(uri, options) if storage.exists(uri, options) else []
    attempts.append(
        {
            "attempt": len(attempts) + 1,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": now_utc(),
        }
    )
    storage.write_json_atomic(uri, attempts, options)
    return attempts


def load_checkpoint(layout: Layout, run_id: str, seed: int, options: dict | None) -> Checkpoint | None:
    """The last epoch checkpoint, if one is there and intact (else None: start from scratch)."""
    folder = layout.checkpoint_dir(run_id, seed)
    pointer = storage.join(folder, "latest.json")
    if not storage.exists(pointer, options):
        return None
    try:
        latest = storage.read_json(pointer, options)
        params = storage.read_bytes(storage.join(folder, latest["params"]), options)
    except (StorageError, KeyError) as exc:
        log.warning("seed %d: ignoring unreadable checkpoint (%s)", seed, exc)
        return None
    if hashlib.sha256(params).hexdigest() != latest.get("params_sha256"):
        log.warning("seed %d: ignoring checkpoint whose parameters fail their digest", seed)
        return None
    history = [EpochMetrics(**m) for m in latest["history"]]
    return Checkpoint(epoch=latest["epoch"], params=params, history=history)


def save_checkpoint(
    layout: Layout, run_id: str, seed: int, options: dict | None, history: list[EpochMetrics], params: bytes
) -> None:
    """Write epoch-named parameters, then point latest.json at them, then drop the older file."""
    folder = layout.checkpoint_dir(run_id, seed)
    epoch = history[-1].epoch
    name = f"epoch-{epoch:04d}.params"
    storage.write_bytes_atomic(storage.join(folder, name), params, options)
    latest = {
        "epoch": epoch,
        "params": name,
        "params_sha256": hashlib.sha256(params).hexdigest(),
        "history": [m.as_dict() for m in history],
    }
    storage.write_json_atomic(storage.join(folder, "latest.json"), latest, options)
    if epoch > 1:
        storage.remove(storage.join(folder, f"epoch-{epoch - 1:04d}.params"), options)


def _row(seed: int, status: str, metrics: dict[str, Any], attempts: int) -> dict[str, Any]:
    """The seed's row in the run's per-seed table."""
    return {
        "seed": seed,
        "status": status,
        "test_accuracy": metrics["test_accuracy"],
        "train_seconds": metrics["train_seconds"],
        "attempts": attempts,
    }


def final_metrics(
    run_id: str, seed: int, recipe: Recipe, history: list[EpochMetrics], params: bytes,
    context: tuple[str, int], data_info: dict[str, Any], attempts: list[dict], wall_seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """metrics.json of a finished seed: config, per-epoch metrics, versions, data, threads, attempts."""
    return {
        "status": "complete",
        "run_id": run_id,
        "seed": seed,
        "recipe": vars(recipe),
        "epochs": [m.as_dict() for m in history],
        "test_accuracy": history[-1].test_accuracy,
        "train_seconds": round(sum(m.seconds for m in history), 3),
        "wall_seconds_this_attempt": round(wall_seconds, 3),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "context": f"{context[0]}({context[1]})",
        "versions": versions(),
        "data": data_info,
        "attempts": attempts,
        "finished_at": now_utc(),
        "model_sha256": hashlib.sha256(params).hexdigest(),
        "argv": sys.argv[:1],
    }


def run_seed(
    arrays: dict[str, np.ndarray],
    data_info: dict[str, Any],
    recipe: Recipe,
    seed: int,
    output: str,
    run_id: str,
    options: dict | None,
    context: tuple[str, int] = ("cpu", 0),
) -> dict[str, Any]:
    """Train (or resume, or skip) one seed; returns its row for the run's per-seed table."""
    layout = Layout(output)
    done = load_complete(layout, run_id, seed, options)
    if done is not None:
        log.info("seed %d: already complete (test accuracy %.4f), skipped", seed, done["test_accuracy"])
        return _row(seed, "skipped", done, len(done.get("attempts", [])))
    attempts = record_attempt(layout, run_id, seed, options)
    resume = load_checkpoint(layout, run_id, seed, options)
    if resume is not None:
        log.info("seed %d: resuming after epoch %d (attempt %d)", seed, resume.epoch, len(attempts))
    started = time.perf_counter()
    params, history = train_seed(
        arrays, recipe, seed, mx_context(*context), resume,
        on_epoch=lambda hist, p: save_checkpoint(layout, run_id, seed, options, hist, p),
    )  # fmt: skip
    metrics = final_metrics(
        run_id, seed, recipe, history, params, context, data_info, attempts, time.perf_counter() - started
    )
    storage.write_bytes_atomic(layout.model_params(run_id, seed), params, options)
    storage.write_json_atomic(layout.metrics_json(run_id, seed), metrics, options)  # last: marks complete
    storage.remove(layout.checkpoint_dir(run_id, seed), options, recursive=True)
    log.info("seed %d: done, test accuracy %.4f", seed, metrics["test_accuracy"])
    return _row(seed, "trained", metrics, len(attempts))
