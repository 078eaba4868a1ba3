"""A seed's epoch checkpoint: parameters named by epoch, then latest.json pointing at them (with a digest)."""

import hashlib
import logging

from lenet_batch.errors import DataError, StorageError
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import EpochMetrics
from lenet_batch.training.loop import Checkpoint

log = logging.getLogger(__name__)


def load_checkpoint(run: RunRef, seed: int) -> Checkpoint | None:
    """The last epoch checkpoint, if one is there and intact (else None: start from scratch)."""
    folder = run.checkpoint_dir(seed)
    pointer = storage.join(folder, "latest.json")
    if not storage.exists(pointer, run.options):
        return None
    try:
        latest = storage.read_json(pointer, run.options)
        params = storage.read_bytes(storage.join(folder, latest["params"]), run.options)
        history = [EpochMetrics(**m) for m in latest["history"]]
        epoch = int(latest["epoch"])
    except (StorageError, DataError, KeyError, TypeError, ValueError) as exc:
        log.warning("seed %d: ignoring unreadable checkpoint (%s)", seed, exc)
        return None
    if hashlib.sha256(params).hexdigest() != latest.get("params_sha256"):
        log.warning("seed %d: ignoring checkpoint whose parameters fail their digest", seed)
        return None
    return Checkpoint(epoch=epoch, params=params, history=history)


def save_checkpoint(run: RunRef, seed: int, history: list[EpochMetrics], params: bytes) -> None:
    """Write epoch-named parameters, then point latest.json at them, then drop the older file."""
    folder = run.checkpoint_dir(seed)
    epoch = history[-1].epoch
    name = f"epoch-{epoch:04d}.params"
    storage.write_bytes_atomic(storage.join(folder, name), params, run.options)
    latest = {
        "epoch": epoch,
        "params": name,
        "params_sha256": hashlib.sha256(params).hexdigest(),
        "history": [m.as_dict() for m in history],
    }
    storage.write_json_atomic(storage.join(folder, "latest.json"), latest, run.options)
    if epoch > 1:
        storage.remove(storage.join(folder, f"epoch-{epoch - 1:04d}.params"), run.options)
