"""One run at a time per output: an exclusively created lock object, local or on S3 (If-None-Match: *)."""

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator

from lenet_batch.errors import LockHeld, StorageError
from lenet_batch.provenance import now_utc
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef

log = logging.getLogger(__name__)


def _create_exclusive(uri: str, data: bytes, options: dict | None) -> bool:
    """Create the object only if it does not exist; False when it already does."""
    fs, path = storage.get_fs(uri, options)
    if storage.is_local(uri):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return True
    try:
        # s3fs sends If-None-Match: * so S3 itself refuses a second creator (412 Precondition Failed).
        fs.pipe_file(path, data, mode="create")
    except FileExistsError:
        return False
    except OSError as exc:
        if "PreconditionFailed" in str(exc) or "412" in str(exc):
            return False
        raise StorageError(f"{uri}: cannot create the run lock ({exc})") from None
    return True


def _age_seconds(lock: dict) -> float:
    acquired = dt.datetime.fromisoformat(lock["acquired_at"])
    return (dt.datetime.now(dt.UTC) - acquired).total_seconds()


def acquire(run: RunRef, stale_seconds: int) -> str:
    """Take the output's lock for the run, or raise LockHeld; a lock older than stale_seconds is taken."""
    uri, options = run.layout.lock(), run.options
    token = uuid.uuid4().hex
    body = {
        "run_id": run.run_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "token": token,
        "acquired_at": now_utc(),
        "stale_after_seconds": stale_seconds,
    }
    data = json.dumps(body, indent=2).encode()
    for _ in range(2):
        if _create_exclusive(uri, data, options):
            return token
        try:
            held = storage.read_json(uri, options)
        except StorageError:
            continue  # released between our attempt and the read: try again
        if _age_seconds(held) <= stale_seconds:
            raise LockHeld(
                f"{uri} is held by run {held.get('run_id')} (host {held.get('host')}, pid "
                f"{held.get('pid')}, since {held.get('acquired_at')}); it is refused rather than "
                f"interleaved — wait, or delete the lock if that run is dead "
                f"(it goes stale after {stale_seconds} s)"
            )
        log.warning(
            "taking over a stale lock %s of run %s from %s", uri, held.get("run_id"), held.get("acquired_at")
        )
        storage.remove(uri, options)
    raise LockHeld(f"{uri}: could not take the lock (another run keeps taking it)")


def release(run: RunRef, token: str) -> None:
    """Remove the lock if it is still ours."""
    uri, options = run.layout.lock(), run.options
    with contextlib.suppress(StorageError):
        if storage.read_json(uri, options).get("token") == token:
            storage.remove(uri, options)


@contextlib.contextmanager
def run_lock(run: RunRef, stale_seconds: int) -> Iterator[None]:
    """Hold the output's lock for the duration of the block."""
    token = acquire(run, stale_seconds)
    try:
        yield
    finally:
        release(run, token)
