"""fsspec I/O on URIs (local paths, s3://, memory://): reads, atomic writes, listings, one-line errors.

Every file and folder is created so that the process umask decides its mode (0644/0755 under umask 022).
"""

import contextlib
import json
import os
import posixpath
import uuid
from collections.abc import Iterator
from typing import Any

import fsspec

from lenet_batch.errors import LenetError, StorageError
from lenet_batch.redaction import redact_strings
from lenet_batch.store import backends


def is_local(uri: str) -> bool:
    """True for plain paths and file:// URIs."""
    return "://" not in uri or uri.startswith("file://")


def join(uri: str, *parts: str) -> str:
    """Join URI path segments with '/', whatever the filesystem."""
    return posixpath.join(uri.rstrip("/") if uri != "/" else uri, *parts)


def get_fs(uri: str, options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and path of a URI, with the options' timeouts; its errors are StorageErrors."""
    kwargs = backends.fs_kwargs(uri, options)
    with storage_errors(uri):  # some backends (ftp, sftp) connect as they are created
        try:
            fs, path = fsspec.core.url_to_fs(uri, **kwargs)
        except ImportError as exc:
            raise StorageError(f"cannot open {uri}: {exc}") from None
        backends.tune(fs)
    return fs, path


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _storage_error(uri: str, exc: BaseException) -> StorageError:
    """One line for a filesystem's error on one URI, saying what to check."""
    text = _first_line(exc)
    if isinstance(exc, FileNotFoundError):
        return StorageError(f"{uri}: not found")
    if isinstance(exc, PermissionError):
        return StorageError(f"{uri}: permission denied ({text}); check the path or the credentials")
    if isinstance(exc, NotADirectoryError | FileExistsError):
        return StorageError(f"{uri}: a file is in the way where a folder must be ({text})")
    if isinstance(exc, IsADirectoryError):
        return StorageError(f"{uri}: is a folder, not a file")
    name = type(exc).__name__.lower()
    if isinstance(exc, TimeoutError) or "timeout" in name:
        return StorageError(
            f"{uri}: no answer in time ({type(exc).__name__}); check the endpoint, or raise storage_timeout"
        )
    if isinstance(exc, ConnectionError) or "connect" in name:
        return StorageError(f"{uri}: cannot connect ({text}); check the endpoint, network and credentials")
    if isinstance(exc, TypeError):  # from a filesystem call: an option it does not take, or of a wrong type
        return StorageError(f"{uri}: the filesystem rejected the storage options ({text})")
    if isinstance(exc, OSError | ValueError):  # e.g. an invalid endpoint URL, a damaged Parquet page
        return StorageError(f"{uri}: {text}")
    return StorageError(f"{uri}: {type(exc).__name__}: {text}")


@contextlib.contextmanager
def storage_errors(uri: str) -> Iterator[None]:
    """Turn the filesystem's errors for one URI (any backend: refused, timed out, rejected) into one line."""
    try:
        yield
    except LenetError:
        raise
    except (OSError, TypeError, ValueError, *backends.error_types()) as exc:
        raise _storage_error(uri, exc) from None


def read_bytes(uri: str, options: dict[str, Any] | None = None) -> bytes:
    """Read a whole object."""
    fs, path = get_fs(uri, options)
    with storage_errors(uri):
        return fs.cat_file(path)


def exists(uri: str, options: dict[str, Any] | None = None) -> bool:
    """True when the object or folder exists."""
    fs, path = get_fs(uri, options)
    with storage_errors(uri):
        return fs.exists(path)


def create_new(path: str, data: bytes) -> None:
    """Create a local file holding `data`, fsynced; FileExistsError if it exists; removed if writing fails.

    Created with mode 0666 like any new file, so the process umask alone decides who may read it (mkstemp
    would make it 0600 whatever the umask).
    """
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def write_temp(folder: str, data: bytes) -> str:
    """A new, fsynced file of `data` in a local folder (made if missing); returns its path."""
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{uuid.uuid4().hex}")
    create_new(tmp, data)
    return tmp


def write_bytes_atomic(uri: str, data: bytes, options: dict[str, Any] | None = None) -> None:
    """Write an object so that readers see the old bytes or the new, never a part.

    Locally: a temporary file in the same folder, fsync, rename. On object stores a single PUT is atomic.
    """
    fs, path = get_fs(uri, options)
    with storage_errors(uri):
        if not is_local(uri):
            fs.pipe_file(path, data)
            return
        tmp = write_temp(os.path.dirname(path) or ".", data)
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def read_json(uri: str, options: dict[str, Any] | None = None) -> Any:
    """Read a JSON object; a malformed file is a StorageError naming it."""
    raw = read_bytes(uri, options)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise StorageError(f"{uri}: not valid JSON ({exc})") from None


def write_json_atomic(uri: str, value: Any, options: dict[str, Any] | None = None) -> None:
    """Write a JSON document atomically (sorted keys, indented, trailing newline).

    No record keeps a URI's credentials: every string is masked as redaction.redact_text does.
    """
    text = json.dumps(redact_strings(value), indent=2, sort_keys=True, default=str) + "\n"
    write_bytes_atomic(uri, text.encode(), options)


def remove(uri: str, options: dict[str, Any] | None = None, recursive: bool = False) -> None:
    """Remove an object (or a folder with recursive=True); missing is fine."""
    fs, path = get_fs(uri, options)
    with storage_errors(uri), contextlib.suppress(FileNotFoundError):
        fs.rm(path, recursive=recursive)


def list_dir(uri: str, options: dict[str, Any] | None = None) -> list[str]:
    """Names (not paths) directly under a folder; a missing folder lists as empty."""
    fs, path = get_fs(uri, options)
    with storage_errors(uri):
        if not fs.exists(path):
            return []
        fs.invalidate_cache(path)
        return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False))


# Object stores answer many small GETs at once; a bound keeps sockets and memory in check.
READ_MANY_BATCH = 64


def read_many(uris: list[str], options: dict[str, Any] | None = None) -> dict[str, bytes]:
    """Read many objects of one filesystem (concurrently on async ones, e.g. s3://); missing ones left out."""
    if not uris:
        return {}
    fs, _ = get_fs(uris[0], options)
    paths = {fs._strip_protocol(uri): uri for uri in uris}
    extra = {"batch_size": READ_MANY_BATCH} if getattr(fs, "async_impl", False) else {}
    with storage_errors(uris[0]):
        found = fs.cat(list(paths), on_error="return", **extra)
    out = {}
    for path, value in found.items():
        if isinstance(value, FileNotFoundError):
            continue
        if isinstance(value, BaseException):
            with storage_errors(paths[path]):
                raise value
        out[paths[path]] = value
    return out
