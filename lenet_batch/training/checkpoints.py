"""A seed's epoch checkpoint: parameters named by epoch, then latest.json pointing at them (with a digest).

latest.json also records the recipe and the data the epochs were trained with, so that a resume can be
checked against the request (training.plan). Reading a seed's state needs no MXNet: the driver plans with
it before any cluster or model exists.
"""

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from lenet_batch.config import Recipe
from lenet_batch.errors import DataError, StorageError
from lenet_batch.records import DataInfo
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import EpochMetrics, TrainResult, load_complete, seed_folders
from lenet_batch.training.plan import SeedState

log = logging.getLogger(__name__)


@dataclass
class Checkpoint:
    """Where training stopped: the last finished epoch, its parameters and the metrics so far."""

    epoch: int
    params: bytes
    history: list[EpochMetrics]


def _pointer(run: RunRef, seed: int) -> dict[str, Any] | None:
    """latest.json of the seed's checkpoint when there is a readable one (else None: start from scratch)."""
    uri = storage.join(run.checkpoint_dir(seed), "latest.json")
    if not storage.exists(uri, run.options):
        return None
    try:
        latest = storage.read_json(uri, run.options)
        return {
            **latest,
            "epoch": int(latest["epoch"]),
            "params": str(latest["params"]),
            "history": list(latest["history"]),
        }
    except (StorageError, DataError, KeyError, TypeError, ValueError) as exc:
        log.warning("seed %d: ignoring unreadable checkpoint (%s)", seed, exc)
        return None


def load_checkpoint(run: RunRef, seed: int) -> Checkpoint | None:
    """The last epoch checkpoint, if one is there and intact (else None: start from scratch)."""
    latest = _pointer(run, seed)
    if latest is None:
        return None
    try:
        params = storage.read_bytes(storage.join(run.checkpoint_dir(seed), latest["params"]), run.options)
        history = [EpochMetrics.from_json(m, "latest.json history") for m in latest["history"]]
    except (StorageError, DataError) as exc:
        log.warning("seed %d: ignoring unreadable checkpoint (%s)", seed, exc)
        return None
    if hashlib.sha256(params).hexdigest() != latest.get("params_sha256"):
        log.warning("seed %d: ignoring checkpoint whose parameters fail their digest", seed)
        return None
    return Checkpoint(epoch=int(latest["epoch"]), params=params, history=history)


def save_checkpoint(
    run: RunRef,
    seed: int,
    history: list[EpochMetrics],
    params: bytes,
    *,
    recipe: Recipe,
    data: DataInfo,
) -> None:
    """Write epoch-named parameters, then point latest.json at them, then drop the older file."""
    folder = run.checkpoint_dir(seed)
    epoch = history[-1].epoch
    name = f"epoch-{epoch:04d}.params"
    storage.write_bytes_atomic(storage.join(folder, name), params, run.options)
    latest = {
        "epoch": epoch,
        "params": name,
        "params_sha256": hashlib.sha256(params).hexdigest(),
        "history": [m.to_json() for m in history],
        "recipe": dataclasses.asdict(recipe),
        "data": data.to_json(),
    }
    storage.write_json_atomic(storage.join(folder, "latest.json"), latest, run.options)
    if epoch > 1:
        storage.remove(storage.join(folder, f"epoch-{epoch - 1:04d}.params"), run.options)


def seed_state(run: RunRef, seed: int) -> SeedState:
    """What the run's files say about a seed: finished (metrics.json), checkpointed, or nothing."""
    done = load_complete(run, seed)
    if done is not None:
        return SeedState(
            seed,
            finished=True,
            epoch=len(done.epochs),
            recipe=done.recipe,
            data=done.data,
            test_accuracy=done.test_accuracy,
            train_seconds=done.train_seconds,
            attempts=len(done.attempts),
        )
    latest = _pointer(run, seed)
    if latest is None:
        return SeedState(seed)
    recipe, data = latest.get("recipe"), latest.get("data")
    return SeedState(
        seed,
        epoch=int(latest["epoch"]),
        recipe=recipe if isinstance(recipe, dict) else None,
        data=DataInfo.from_json(data, "latest.json data") if isinstance(data, dict) else None,
    )


def skipped(state: SeedState) -> TrainResult:
    """A complete seed's row when it is not trained again (logged once, wherever that is decided)."""
    log.info("seed %d: already complete (test accuracy %.4f), skipped", state.seed, state.test_accuracy)
    return TrainResult(state.seed, "skipped", state.test_accuracy, state.train_seconds, state.attempts)


def run_states(run: RunRef, seeds: list[int]) -> dict[int, SeedState]:
    """The state of the asked-for seeds and of every other seed the run has a folder for."""
    present = seed_folders(run) if storage.exists(run.seeds_dir, run.options) else []
    return {s: seed_state(run, s) for s in sorted(set(seeds) | set(present))}
