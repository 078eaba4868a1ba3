"""A seed's epoch checkpoint: parameters named by epoch, then latest.json pointing at them (with a digest).

latest.json (store.seed_records.CheckpointPointer) also records the recipe and the data the epochs were
trained with: the run's state reads it to plan a resume (pipeline/plan.py), and a task resumes only from a
checkpoint of its own recipe and data.
"""

import hashlib
import logging
from dataclasses import dataclass

from lenet_batch.config import Recipe
from lenet_batch.errors import ConfigError, DataError, StorageError
from lenet_batch.records import DataInfo
from lenet_batch.state.manifest import Manifest
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import CheckpointPointer, EpochMetrics

log = logging.getLogger(__name__)


@dataclass
class Checkpoint:
    """Where training stopped: the last finished epoch, its parameters and the metrics so far."""

    epoch: int
    params: bytes
    history: list[EpochMetrics]


def _pointer_uri(run: RunRef, seed: int) -> str:
    return storage.join(run.checkpoint_dir(seed), "latest.json")


def _pointer(run: RunRef, seed: int) -> CheckpointPointer | None:
    """latest.json of the seed's checkpoint when there is a readable one (else None: start from scratch)."""
    uri = _pointer_uri(run, seed)
    try:
        if not storage.exists(uri, run.options):
            return None
        return CheckpointPointer.from_json(storage.read_json(uri, run.options), uri)
    except (StorageError, DataError) as exc:
        log.warning("seed %d: ignoring unreadable checkpoint (%s)", seed, exc)
        return None


def load_checkpoint(run: RunRef, seed: int, recipe: Recipe, data: DataInfo) -> Checkpoint | None:
    """The last epoch checkpoint, if one is there, intact and of this recipe and data (None: start from
    scratch; ConfigError for a checkpoint of another recipe or data, which is never resumed)."""
    latest = _pointer(run, seed)
    if latest is None:
        return None
    if latest.recipe is not None:
        changes = Manifest(recipe, data).differences(Manifest(latest.recipe, latest.data), identity_only=True)
        if changes:
            said = ", ".join(f"{c.key} recorded {c.baseline}, requested {c.current}" for c in changes)
            raise ConfigError(f"seed {seed} of run {run.run_id}: its checkpoint was made otherwise ({said})")
    try:
        params = storage.read_bytes(storage.join(run.checkpoint_dir(seed), latest.params), run.options)
    except StorageError as exc:
        log.warning("seed %d: ignoring unreadable checkpoint (%s)", seed, exc)
        return None
    if hashlib.sha256(params).hexdigest() != latest.params_sha256:
        log.warning("seed %d: ignoring checkpoint whose parameters fail their digest", seed)
        return None
    return Checkpoint(epoch=latest.epoch, params=params, history=list(latest.history))


def save_checkpoint(
    run: RunRef, seed: int, history: list[EpochMetrics], params: bytes, *, recipe: Recipe, data: DataInfo
) -> None:
    """Write epoch-named parameters, then point latest.json at them, then drop the older file."""
    folder = run.checkpoint_dir(seed)
    epoch = history[-1].epoch
    name = f"epoch-{epoch:04d}.params"
    storage.write_bytes_atomic(storage.join(folder, name), params, run.options)
    latest = CheckpointPointer(
        epoch=epoch,
        params=name,
        history=tuple(history),
        params_sha256=hashlib.sha256(params).hexdigest(),
        recipe=recipe,
        data=data,
    )
    storage.write_json_atomic(_pointer_uri(run, seed), latest.to_json(), run.options)
    if epoch > 1:
        storage.remove(storage.join(folder, f"epoch-{epoch - 1:04d}.params"), run.options)
