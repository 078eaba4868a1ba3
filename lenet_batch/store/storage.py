"""fsspec I/O on URIs (local paths, s3://, memory://): reads, atomic writes, listings, one-line errors."""

import contextlib
import json
import os
import posixpath
import tempfile
from collections.abc import Iterator
from typing import Any

import fsspec

from lenet_batch.errors import StorageError


def is_local(uri: str) -> bool:
    """True for plain paths and file:// URIs."""
    return "://" not in uri or uri.startswith("file://")


def join(uri: str, *parts: str) -> str:
    """Join URI path segments with '/', whatever the filesystem."""
    return posixpath.join(uri.rstrip("/") if uri != "/" else uri, *parts)


def get_fs(uri: str, options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and in-filesystem path of a URI; a bad URI or option is a StorageError."""
    try:
        return fsspec.core.url_to_fs(uri, **(options or {}))
    except (ValueError, ImportError, TypeError) as exc:
        raise StorageError(f"cannot open {uri}: {exc}") from None


@contextlib.contextmanager
def storage_errors(uri: str) -> Iterator[None]:
    """Turn the filesystem's errors for one URI into one-line StorageErrors."""
    try:
        yield
    except FileNotFoundError:
        raise StorageError(f"{uri}: not found") from None
    except PermissionError as exc:
        raise StorageError(f"{uri}: permission denied ({exc}); check the path or the credentials") from None
    except OSError as exc:
        if isinstance(exc, StorageError):
            raise
        raise StorageError(f"{uri}: {exc}") from None


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


def write_bytes_atomic(uri: str, data: bytes, options: dict[str, Any] | None = None) -> None:
    """Write an object so that readers see the old bytes or the new, never a part.

    Locally: a temporary file in the same folder, fsync, rename. On object stores a single PUT is atomic.
    """
    fs, path = get_fs(uri, options)
    with storage_errors(uri):
        if is_local(uri):
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        else:
            fs.pipe_file(path, data)


def read_json(uri: str, options: dict[str, Any] | None = None) -> Any:
    """Read a JSON object; a malformed file is a StorageError naming it."""
    raw = read_bytes(uri, options)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise StorageError(f"{uri}: not valid JSON ({exc})") from None


def write_json_atomic(uri: str, value: Any, options: dict[str, Any] | None = None) -> None:
    """Write a JSON document atomically (sorted keys, indented, trailing newline)."""
    text = json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"
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
