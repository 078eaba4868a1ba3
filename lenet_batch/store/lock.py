"""One run at a time per output: an exclusively created lock object, local or on S3 (If-None-Match: *).

A lock is never left half-written: locally it is written in full to a temporary file and then hard-linked
into place (exclusive and atomic), so a full disk leaves no lock at all; on S3 a single conditional PUT.
A lock is taken over when it is stale:
- its holder ran on this host and that process is gone: at once (on S3 the lock must also carry this
  machine's boot id, since another machine may have the same host name);
- it was taken longer ago than stale_lock_seconds (any host);
- its time lies more than 10 minutes ahead of this host's clock: at once, with a warning (a clock is wrong,
  and waiting for it would block every nightly for ever);
- it cannot be read as a lock (empty, truncated, not a JSON object, no timezone-aware acquired_at): once the
  file itself is older than stale_lock_seconds; until then the run is refused (exit 5) naming what to delete.
Something that is not a regular file (a folder, a FIFO, a device, a symlink loop) was never written by this
program: it is never taken over, and every run is refused (exit 5) naming the path to delete.
"""

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from lenet_batch.errors import LockHeld, StorageError
from lenet_batch.json_records import JsonRecord, RecordError
from lenet_batch.provenance import now_utc
from lenet_batch.store import found_files, storage, writers
from lenet_batch.store.backends import StorageOptions
from lenet_batch.store.layout import Layout, RunRef

log = logging.getLogger(__name__)

NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)


def _create_local(path: str, data: bytes) -> bool:
    """Create the file holding `data` unless it exists; a failed write leaves nothing behind."""
    tmp = storage.write_temp(os.path.dirname(path) or ".", data)  # ENOSPC fails here, before any lock
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        return _create_local_without_links(path, data)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _create_local_without_links(path: str, data: bytes) -> bool:
    """For filesystems without hard links: exclusive create, removed again if writing it fails."""
    try:
        storage.create_new(path, data)
    except FileExistsError:
        return False
    return True


def _create_exclusive(uri: str, data: bytes, options: StorageOptions | None) -> bool:
    """Create the object only if it does not exist; False when it already does."""
    fs, path = storage.get_fs(uri, options)
    with storage.storage_errors(uri):
        if storage.is_local(uri):
            return _create_local(path, data)
        try:
            # s3fs sends If-None-Match: * so S3 itself refuses a second creator (412 Precondition Failed).
            fs.pipe_file(path, data, mode="create")
        except FileExistsError:
            return False
        except OSError as exc:
            if "PreconditionFailed" in str(exc) or "412" in str(exc):
                return False
            raise
    return True


@dataclass(frozen=True, kw_only=True)
class LockRecord(writers.Process):
    """_lock.json: the run that holds the output, since when, and the token that lets it release the lock;
    the holding process's fields (host, pid, ...) beside them."""

    run_id: str | None = None
    token: str | None = None
    acquired_at: str
    stale_after_seconds: int | None = None


@dataclass(frozen=True)
class Held:
    """A lock found in place: its bytes (None: not a regular file), its record (None when it does not read
    as one), since when it counts (acquired_at, else when its file last changed), and why it does not read."""

    uri: str
    raw: bytes | None
    record: LockRecord | None
    since: dt.datetime
    problem: str = ""

    @property
    def age_seconds(self) -> float:
        """Seconds since it counts (negative when dated ahead of this host's clock)."""
        return found_files.age_seconds(self.since)


def _parse(raw: bytes) -> tuple[LockRecord | None, dt.datetime | None, str]:
    """The lock's record and its acquired_at as an aware datetime; (None, None, why) when it is not a lock."""
    try:
        doc = json.loads(raw)
    except RecursionError:
        return None, None, "nested too deeply"
    except ValueError:
        return None, None, "empty" if not raw.strip() else "not valid JSON (truncated?)"
    if not isinstance(doc, dict):
        return None, None, f"a JSON {type(doc).__name__}, not an object"
    if "acquired_at" not in doc:
        return None, None, "no acquired_at"
    try:
        record = LockRecord.from_json(doc, "lock")
        acquired = dt.datetime.fromisoformat(record.acquired_at)
    except RecordError as exc:
        return None, None, str(exc)
    except ValueError:
        return None, None, f"acquired_at {str(doc['acquired_at'])[:40]!r} is not an ISO-8601 time"
    if acquired.tzinfo is None:
        return None, None, f"acquired_at {record.acquired_at!r} has no timezone"
    return record, acquired, ""


def _inspect(uri: str, options: StorageOptions | None) -> Held | None:
    """The lock in place, or None when there is none (released meanwhile)."""
    found = found_files.find(uri, options)
    if found is None:
        return None
    if found.raw is None:
        return Held(uri, None, None, found.modified, found.problem)
    record, acquired, problem = _parse(found.raw)
    return Held(uri, found.raw, record, acquired or found.modified, problem)


def _stale_reason(held: Held, stale_seconds: int, local: bool) -> str:
    """Why the lock may be taken over, or '' when it is live (or not a lock at all: never ours to take)."""
    if held.raw is None:
        return ""
    lead = found_files.ahead(held.since)
    if lead:
        what = f"acquired_at {held.record.acquired_at}" if held.record else "last change"
        host = f" and of host {held.record.host}" if held.record and held.record.host else ""
        return f"its {what} lies {lead} ahead of this host's clock (check the clock of this host{host})"
    if held.record is None:
        if held.age_seconds > stale_seconds:
            return f"it is unreadable ({held.problem}) and was last written {held.age_seconds:.0f} s ago"
        return ""
    # Shared storage (S3) may be written by another machine with the same host name: the boot id tells.
    if writers.certainly_gone(held.record, same_boot=not local):
        return f"its holder, pid {held.record.pid} on this host, is no longer running"
    if held.age_seconds > stale_seconds:
        return f"it was taken {held.age_seconds:.0f} s ago, more than stale_lock_seconds ({stale_seconds})"
    return ""


def _refusal(held: Held, stale_seconds: int) -> LockHeld:
    uri, r = held.uri, held.record
    if held.raw is None:
        return LockHeld(
            f"{uri} is not a lock ({held.problem}): no run of this program wrote it, and none takes it over; "
            f"if no run is using this output, delete {uri} and start again"
        )
    if r is None:
        return LockHeld(
            f"{uri} is corrupt ({held.problem}), last written {held.age_seconds:.0f} s ago; if no run is "
            f"using this output, delete {uri} and start again (it is taken over by itself once it is "
            f"{stale_seconds} s old)"
        )
    return LockHeld(
        f"{uri} is held by run {r.run_id} (host {r.host}, pid {r.pid}, since {r.acquired_at}); it is "
        f"refused rather than interleaved — wait, or delete the lock if that run is dead (it goes stale "
        f"after {stale_seconds} s)"
    )


def _remove_if_unchanged(held: Held, options: StorageOptions | None) -> None:
    """Remove the stale lock unless another run replaced it since we read it."""
    with contextlib.suppress(StorageError):
        now = _inspect(held.uri, options)
        if now is not None and now.raw is not None and now.raw == held.raw:
            storage.remove(held.uri, options)


def acquire(run: RunRef, stale_seconds: int) -> str:
    """Take the output's lock for the run, or raise LockHeld (exit 5); stale locks are taken over."""
    uri, options = run.layout.lock(), run.options
    token = uuid.uuid4().hex
    record = writers.this_process(
        LockRecord, run_id=run.run_id, token=token, acquired_at=now_utc(), stale_after_seconds=stale_seconds
    )
    data = json.dumps(record.to_json(), indent=2).encode()
    for _ in range(3):
        if _create_exclusive(uri, data, options):
            return token
        held = _inspect(uri, options)
        if held is None:
            continue  # released between our attempt and the read: try again
        reason = _stale_reason(held, stale_seconds, storage.is_local(uri))
        if not reason:
            raise _refusal(held, stale_seconds)
        log.warning("taking over the lock %s: %s", uri, reason)
        _remove_if_unchanged(held, options)
    raise LockHeld(f"{uri}: could not take the lock (another run keeps taking it)")


def release(run: RunRef, token: str) -> None:
    """Remove the lock if it is still ours."""
    uri, options = run.layout.lock(), run.options
    with contextlib.suppress(StorageError):
        held = _inspect(uri, options)
        if held is not None and held.record is not None and held.record.token == token:
            storage.remove(uri, options)


def refuse_if_held(layout: Layout, command: str, run_id: str | None, stale_seconds: int) -> None:
    """Refuse (LockHeld, exit 5) a hand `command` on what a nightly holding the output's lock is writing.

    With a run id, only a nightly of that run refuses it; without (history/, which every nightly rewrites),
    any live holder does. A stale lock (its holder gone, or too old) stops nothing and is left for the next
    nightly to take over; an unreadable one refuses, as it refuses a nightly.
    """
    uri = layout.lock()
    held = _inspect(uri, layout.options)
    stale = _stale_reason(held, stale_seconds, storage.is_local(uri)) if held else ""
    if held is None or stale:
        if held is not None and found_files.ahead(held.since):
            log.warning("%s counts as stale: %s; the next nightly takes it over", uri, stale)
        return
    r = held.record
    if r is None:
        raise _refusal(held, stale_seconds)
    if run_id is not None and r.run_id != run_id:
        return
    what = f"run {run_id}" if run_id is not None else f"{layout.output} (now run {r.run_id})"
    raise LockHeld(
        f"{what} is being written by a nightly (lock {uri}: host {r.host}, pid {r.pid}, since "
        f"{r.acquired_at}); `{command}` is refused rather than interleaved with it — wait for it to "
        f"finish, or delete the lock if that nightly is dead (it goes stale after {stale_seconds} s)"
    )


@dataclass(frozen=True)
class Holder(JsonRecord):
    """Who holds the output's lock, as a monitor sees it (never taken over, only read)."""

    run_id: str | None
    host: str | None
    pid: int | None
    acquired_at: str | None
    age_seconds: float  # since it was taken (or last written, when unreadable)
    stale: str = ""  # why the next nightly would take it over; "" when live
    problem: str = ""  # why it cannot be read as a lock


def holder(layout: Layout, stale_seconds: int) -> Holder | None:
    """The lock in place and whether it is live, or None when there is none; it is only read."""
    uri = layout.lock()
    held = _inspect(uri, layout.options)
    if held is None:
        return None
    r = held.record
    return Holder(
        run_id=r.run_id if r else None,
        host=r.host if r else None,
        pid=r.pid if r else None,
        acquired_at=r.acquired_at if r else None,
        age_seconds=round(held.age_seconds, 1),
        stale=_stale_reason(held, stale_seconds, storage.is_local(uri)),
        problem=held.problem if held.raw is not None else f"{held.problem}; not a lock: delete {uri}",
    )


@contextlib.contextmanager
def run_lock(run: RunRef, stale_seconds: int) -> Iterator[None]:
    """Hold the output's lock for the duration of the block. Local folders that taking the lock made are
    removed again if the block left them empty: a refused first night writes nothing."""
    made = storage.missing_local_folders(run.layout.output)
    token = acquire(run, stale_seconds)
    try:
        yield
    finally:
        release(run, token)
        for folder in made:  # the deepest first; one that is not empty (the night wrote) stops it
            try:
                os.rmdir(folder)
            except OSError:
                break
