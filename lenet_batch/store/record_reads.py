"""Many small JSON records read at once, each either read or with a one-line reason: never an exception.

A listing of runs reads run.json and summary.json of every run folder. One damaged file (a folder, a
symlink loop or a device in its place, unreadable, huge, truncated, not UTF-8, not JSON, nested too deeply)
must not break the listing: each file is read on its own, at most RECORD_LIMIT bytes, and what is wrong
with it is said in one line naming it.
"""

import json
import os
import posixpath
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lenet_batch.errors import StorageError
from lenet_batch.store import backends, local_files, storage
from lenet_batch.store.backends import StorageOptions

RECORD_LIMIT = storage.RECORD_LIMIT
READ_BATCH = 64  # concurrent GETs on object stores, as storage.read_many
Read = tuple[bytes | None, str | None]  # (the bytes, or None: absent or unreadable; what is wrong)


def printable(text: str) -> str:
    """Text safe to print on one line: control characters and undecodable bytes of a name escaped."""
    if text.isprintable():
        return text
    raw = text.encode("utf-8", "surrogateescape")  # a local name's undecodable bytes come back as bytes
    return raw.decode("utf-8", "backslashreplace").encode("unicode_escape").decode("ascii")


def _local_error(uri: str, exc: OSError) -> str:
    """One line for an OSError reading a local record (local_files says what the path holds)."""
    if isinstance(exc, local_files.FileTooLarge):
        return f"{uri}: too large for a record ({exc.size} bytes; at most {exc.limit})"
    if isinstance(exc, NotADirectoryError):
        return f"{posixpath.dirname(uri)}: a file, not a run folder"
    return f"{uri}: {local_files.reason(exc)}"


def _read_local(uri: str, path: str, limit: int) -> Read:
    """A local record: regular files only (never a folder, a device or a FIFO), at most `limit` bytes."""
    try:
        return local_files.read_regular(path, limit), None
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, _local_error(uri, exc)


def _bounded(uri: str, data: bytes, limit: int) -> Read:
    if len(data) > limit:
        return None, f"{uri}: too large for a record (more than {limit} bytes)"
    return data, None


def _remote_result(uri: str, value: bytes | BaseException, limit: int) -> Read:
    """What a ranged GET gave: bytes, absent, or a storage error in one line."""
    if isinstance(value, FileNotFoundError):
        return None, None
    if isinstance(value, BaseException):
        if backends.unsatisfiable(value):  # HTTP 416 for bytes=0-N: an empty object
            return b"", None
        try:
            with storage.storage_errors(uri):
                raise value
        except StorageError as exc:
            return None, str(exc)
        except Exception as exc:  # noqa: BLE001 - any backend's failure on one object is that object's problem
            return None, f"{uri}: {type(exc).__name__}: {printable(str(exc))[:200]}"
    return _bounded(uri, value, limit)


def read_small_many(
    uris: list[str], options: StorageOptions | None = None, limit: int = RECORD_LIMIT
) -> dict[str, Read]:
    """Each URI's bytes (at most `limit`), or None and why (None, None: absent); all of one filesystem."""
    if not uris:
        return {}
    fs, _ = storage.get_fs(uris[0], options)
    paths = [fs._strip_protocol(uri) for uri in uris]
    if storage.is_local(uris[0]):
        return {uri: _read_local(uri, path, limit) for uri, path in zip(uris, paths, strict=True)}
    extra = {"batch_size": READ_BATCH} if getattr(fs, "async_impl", False) else {}
    with storage.storage_errors(uris[0]):  # ranged reads, no glob: a name with '[' or '*' is just a name
        found = fs.cat_ranges(paths, 0, limit + 1, on_error="return", **extra)
    return {uri: _remote_result(uri, value, limit) for uri, value in zip(uris, found, strict=True)}


def parse_object(uri: str, read: Read) -> tuple[dict[str, Any] | None, str | None]:
    """A record's JSON object, or None and what is wrong with it (None, None: the file is absent)."""
    raw, problem = read
    if raw is None:
        return None, problem
    if not raw.strip():
        return None, f"{uri}: empty file"
    try:
        doc = json.loads(raw)
    except UnicodeDecodeError:
        return None, f"{uri}: not UTF-8 text"
    except ValueError as exc:
        return None, f"{uri}: not valid JSON ({exc})"
    except RecursionError:
        return None, f"{uri}: nested too deeply to read"
    if not isinstance(doc, dict):
        return None, f"{uri}: expected a JSON object, found {type(doc).__name__}"
    return doc, None


def _has_entries(fs: Any, path: str, local: bool) -> bool:
    """True unless the folder is empty (an unreadable one counts as not empty: it is reported, not hidden)."""
    try:
        if local:
            with os.scandir(path) as entries:
                return next(iter(entries), None) is not None
        fs.invalidate_cache(path)
        # an object store lists a folder's "x/" marker object in it (not content), a file as itself (content)
        marker = path.rstrip("/") + "/"
        return any(name != marker for name in fs.ls(path, detail=False))
    except FileNotFoundError:
        return False
    except Exception:  # noqa: BLE001 - a folder that cannot be listed is one with a problem, shown as damaged
        return True


def empty_folders(uris: Iterable[str], options: StorageOptions | None = None) -> set[str]:
    """The folders among `uris` that hold nothing (concurrently on object stores)."""
    uris = list(uris)
    if not uris:
        return set()
    fs, _ = storage.get_fs(uris[0], options)
    local = storage.is_local(uris[0])
    paths = [fs._strip_protocol(uri) for uri in uris]
    if local:
        full = [_has_entries(fs, path, True) for path in paths]
    else:
        with ThreadPoolExecutor(16) as pool:
            full = list(pool.map(lambda p: _has_entries(fs, p, False), paths))
    return {uri for uri, has in zip(uris, full, strict=True) if not has}
