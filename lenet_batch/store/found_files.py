"""The lock and the writer marks as found in place: read without waiting, and dated without trusting a
clock that runs ahead of ours.

Another process, or a person, may leave anything where the lock or a mark should be: a folder, a FIFO, a
device, a symlink loop or a dangling link, a file far too large. Such a thing is never a record this
program wrote; it is reported with the path to delete, never waited on. A recorded time more than
FUTURE_TOLERANCE ahead of this host's clock is not trusted either (the writer's clock, or ours, is wrong).
"""

import datetime as dt
import os
from dataclasses import dataclass

from lenet_batch.store import backends, local_files, storage
from lenet_batch.store.backends import StorageOptions

LIMIT = 2**20  # bytes of a lock or a mark: a few hundred are written
FUTURE_TOLERANCE = dt.timedelta(minutes=10)  # clock skew between hosts that is still believed


@dataclass(frozen=True)
class Found:
    """What stands at a lock's or a mark's path."""

    raw: bytes | None  # None: not a regular file of at most LIMIT bytes (`problem` says what it is)
    modified: dt.datetime  # when the path itself last changed (aware, UTC)
    problem: str = ""


def _local(path: str) -> Found | None:
    try:
        raw, problem = local_files.read_regular(path, LIMIT), ""
    except FileNotFoundError:
        if not os.path.lexists(path):
            return None
        raw, problem = None, "a symlink to nothing"
    except OSError as exc:
        raw, problem = None, local_files.reason(exc)
    try:
        when = os.lstat(path).st_mtime  # of the path itself: a link is deleted, not what it points to
    except FileNotFoundError:
        return None  # removed meanwhile
    return Found(raw, dt.datetime.fromtimestamp(when, dt.UTC), problem)


def find(uri: str, options: StorageOptions | None) -> Found | None:
    """What stands at `uri`, or None when nothing does; a store that cannot be read is a StorageError."""
    fs, path = storage.get_fs(uri, options)
    if storage.is_local(uri):
        return _local(path)
    with storage.storage_errors(uri):
        try:
            raw = backends.read_head(fs, path, LIMIT + 1)
            modified = fs.modified(path)
        except FileNotFoundError:
            return None
    modified = modified if modified.tzinfo else modified.replace(tzinfo=dt.UTC)
    if len(raw) > LIMIT:
        return Found(None, modified, f"too large ({fs.size(path)} bytes; a few hundred are written)")
    return Found(raw, modified)


def age_seconds(since: dt.datetime) -> float:
    """Seconds from `since` (aware) to now; negative when it lies ahead."""
    return (dt.datetime.now(dt.UTC) - since).total_seconds()


def ahead(since: dt.datetime) -> str:
    """'' for a believable time; else how far it lies ahead of this host's clock, in words."""
    lead = -age_seconds(since)
    if lead <= FUTURE_TOLERANCE.total_seconds():
        return ""
    days = lead / 86400
    return f"{days:.0f} days" if days >= 2 else f"{lead / 60:.0f} min"
