"""fsspec I/O on URIs (local paths, s3://, memory://): reads, atomic writes, listings, one-line errors.

Every file and folder is created so that the process umask decides its mode (0644/0755 under umask 022).
"""

import contextlib
import errno
import json
import os
import posixpath
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

import fsspec

from lenet_batch.errors import StorageError
from lenet_batch.redaction import redact_strings
from lenet_batch.store import backends, local_files
from lenet_batch.store.backends import StorageOptions
from lenet_batch.store.failures import bucket_of, storage_errors

# A summary of a thousand seeds (its disagreement matrix) is ~20 MB; a record past this is not one of ours.
RECORD_LIMIT = 64 * 2**20


def is_local(uri: str) -> bool:
    """True for plain paths and file:// URIs."""
    return "://" not in uri or uri.startswith("file://")


def join(uri: str, *parts: str) -> str:
    """Join URI path segments with '/', whatever the filesystem."""
    return posixpath.join(uri.rstrip("/") if uri != "/" else uri, *parts)


def get_fs(uri: str, options: StorageOptions | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and path of a URI, with the options' timeouts; its errors are StorageErrors."""
    kwargs = backends.fs_kwargs(uri, options)
    with storage_errors(uri):  # some backends (ftp, sftp) connect as they are created
        try:
            fs, path = fsspec.core.url_to_fs(uri, **kwargs)
        except ImportError as exc:
            raise StorageError(f"cannot open {uri}: {exc}") from None
        backends.tune(fs)
    return fs, path


def read_bytes(
    uri: str, options: StorageOptions | None = None, limit: int = backends.WHOLE_OBJECT_LIMIT
) -> bytes:
    """Read a whole object of at most `limit` bytes; a local one only if it is a regular file (a FIFO, a
    device or a folder in its place is a StorageError saying so, never a wait)."""
    fs, path = get_fs(uri, options)
    with storage_errors(uri):
        if is_local(uri):
            return local_files.read_regular(path, limit)
        with _folder_is_not_found(fs, path):
            return _bounded(uri, backends.read_head(fs, path, limit + 1), limit)


@contextlib.contextmanager
def _folder_is_not_found(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[None]:
    """An object store answers "no such key" for a prefix (a folder): say that it is one."""
    try:
        yield
    except FileNotFoundError:
        if fs.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "is a folder", path) from None
        raise


def _bounded(uri: str, data: bytes, limit: int) -> bytes:
    if len(data) > limit:
        raise StorageError(f"{uri}: too large (more than {limit} bytes; at most {limit} are read at once)")
    return data


@contextlib.contextmanager
def open_stream(uri: str, options: StorageOptions | None = None) -> Iterator[BinaryIO]:
    """A file of `uri` to read from its start (a local one only if it is a regular file: never a wait on a
    FIFO or an endless device), its errors StorageErrors (the block's own LenetErrors pass through)."""
    fs, path = get_fs(uri, options)
    with storage_errors(uri):
        if is_local(uri):
            f = local_files.open_regular(path)
        else:
            with _folder_is_not_found(fs, path):
                f = fs.open(path, "rb")
            if backends.protocols(uri)[0] in backends.BUCKET_STORES and fs.isdir(path):
                f.close()  # s3fs opens a prefix as an empty file
                raise IsADirectoryError(errno.EISDIR, "is a folder", path)
        with f:
            yield f


@contextlib.contextmanager
def open_for_reading(uri: str, options: StorageOptions | None = None) -> Iterator[BinaryIO]:
    """A seekable file of `uri`, as open_stream gives it.

    An HTTP server that ignores range requests (Python's http.server, some proxies) lets fsspec read a
    file only from its start: its whole object is read into memory once instead (up to
    backends.WHOLE_OBJECT_LIMIT; beyond, a StorageError saying why).
    """
    fs, path = get_fs(uri, options)
    with open_stream(uri, options) as f, storage_errors(uri):
        if not backends.refuses_ranges(f):
            yield f
            return
        with backends.whole_object(fs, path, uri) as whole:
            yield whole


def require_file(uri: str, options: StorageOptions | None = None) -> None:
    """A StorageError unless the URI is a file to read (locally: a regular file), for a path that a library
    opens itself (DuckDB, pyarrow) and would wait on if it were a FIFO."""
    with open_stream(uri, options):
        pass


def exists(uri: str, options: StorageOptions | None = None) -> bool:
    """True when something stands at the URI (locally a symlink loop or a dangling link too: what reads it
    says what it is); in a bucket that does not exist, a StorageError saying so."""
    fs, path = get_fs(uri, options)
    if is_local(uri):
        return os.path.lexists(path)
    with storage_errors(uri):
        found = fs.exists(path)
        if not found:
            _require_bucket(fs, path, uri)
        return found


_BUCKETS_SEEN: set[str] = set()  # buckets known to exist (checked once per process)


def _require_bucket(fs: fsspec.AbstractFileSystem, path: str, uri: str) -> None:
    """Object stores answer "no such key" for a bucket that does not exist: say which it is."""
    if backends.protocols(uri)[0] not in backends.BUCKET_STORES:
        return
    bucket = path.split("/", 1)[0]
    if bucket in _BUCKETS_SEEN or fs.exists(bucket):
        _BUCKETS_SEEN.add(bucket)
        return
    raise StorageError(f"{bucket_of(uri)}: the bucket does not exist; check its name, or create it")


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


def missing_local_folders(uri: str) -> list[str]:
    """The folders of a local `uri` that do not exist yet, the deepest first (none on object storage)."""
    if not is_local(uri):
        return []
    missing, folder = [], os.path.abspath(get_fs(uri)[1])
    while not os.path.isdir(folder) and folder != os.path.dirname(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def write_temp(folder: str, data: bytes) -> str:
    """A new, fsynced file of `data` in a local folder (made if missing); returns its path."""
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{uuid.uuid4().hex}")
    create_new(tmp, data)
    return tmp


def write_bytes_atomic(uri: str, data: bytes, options: StorageOptions | None = None) -> None:
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


def read_json(uri: str, options: StorageOptions | None = None) -> Any:
    """Read a JSON record (at most RECORD_LIMIT bytes); a malformed file is a StorageError naming it."""
    raw = read_bytes(uri, options, RECORD_LIMIT)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise StorageError(f"{uri}: not valid JSON ({exc})") from None


def write_json_atomic(uri: str, value: Any, options: StorageOptions | None = None) -> None:
    """Write a JSON document atomically (sorted keys, indented, trailing newline).

    No record keeps a URI's credentials: every string is masked as redaction.redact_text does.
    """
    text = json.dumps(redact_strings(value), indent=2, sort_keys=True, default=str) + "\n"
    write_bytes_atomic(uri, text.encode(), options)


def remove(uri: str, options: StorageOptions | None = None, recursive: bool = False) -> None:
    """Remove an object (or a folder with recursive=True); missing is fine."""
    fs, path = get_fs(uri, options)
    with storage_errors(uri), contextlib.suppress(FileNotFoundError):
        fs.rm(path, recursive=recursive)


def list_dir(uri: str, options: StorageOptions | None = None) -> list[str]:
    """Names (not paths) directly under a folder; a missing folder lists as empty."""
    fs, path = get_fs(uri, options)
    with storage_errors(uri):
        if not fs.exists(path):
            _require_bucket(fs, path, uri)
            return []
        fs.invalidate_cache(path)
        return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False))


# Object stores answer many small GETs at once; a bound keeps sockets and memory in check.
READ_MANY_BATCH = 64


def read_many(uris: list[str], options: StorageOptions | None = None) -> dict[str, bytes]:
    """Read many objects of one filesystem (concurrently on async ones, e.g. s3://); missing ones left out."""
    if not uris:
        return {}
    fs, _ = get_fs(uris[0], options)
    paths = {fs._strip_protocol(uri): uri for uri in uris}
    if is_local(uris[0]):
        found = {uri: _read_if_present(uri, path) for path, uri in paths.items()}
        return {uri: data for uri, data in found.items() if data is not None}
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


def _read_if_present(uri: str, path: str) -> bytes | None:
    """A local object's bytes (a regular file only), or None when it is missing."""
    with storage_errors(uri):
        try:
            return local_files.read_regular(path, backends.WHOLE_OBJECT_LIMIT)
        except FileNotFoundError:
            return None
