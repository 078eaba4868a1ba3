"""fsspec I/O on URIs (local paths, s3://, memory://): reads, atomic writes, listings, one-line errors.

Every file and folder is created so that the process umask decides its mode (0644/0755 under umask 022).
"""

import contextlib
import json
import os
import posixpath
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

import fsspec

from lenet_batch.errors import LenetError, StorageError
from lenet_batch.redaction import redact_strings
from lenet_batch.store import backends
from lenet_batch.store.backends import StorageOptions

MESSAGE_LIMIT = 400  # characters of a backend's message in an error line


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


def _first_line(exc: BaseException) -> str:
    """The error's message on one line: its first line, and the next ones while a line ends with ':'
    ("Parameter validation failed:" says what failed on the line after)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    text = lines[0]
    for line in lines[1:]:
        if not text.endswith(":"):
            break
        text = f"{text} {line}"
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _bucket(uri: str) -> str:
    """s3://bucket of s3://bucket/key (the URI itself for other stores)."""
    protocol, sep, rest = uri.partition("://")
    return f"{protocol}://{rest.split('/', 1)[0]}" if sep else uri


def _hidden_cause(exc: FileNotFoundError) -> BaseException | None:
    """The real error behind a FileNotFoundError that is not one: fsspec's HTTP filesystem reports every
    failed lookup (connection refused, timed out, HTTP 403 or 500) as "not found", its cause attached."""
    cause = exc.__cause__
    if cause is None or isinstance(cause, FileNotFoundError) or getattr(cause, "status", None) == 404:
        return None
    return cause


def _storage_error(uri: str, exc: BaseException) -> StorageError:
    """One line for a filesystem's error on one URI, saying what to check."""
    text = _first_line(exc)
    if isinstance(exc, FileNotFoundError) and _hidden_cause(exc) is not None:
        return _storage_error(uri, _hidden_cause(exc))
    if "NoSuchBucket" in f"{text} {exc.__cause__}" or "bucket does not exist" in text.lower():
        return StorageError(f"{_bucket(uri)}: the bucket does not exist; check its name, or create it")
    if "Invalid bucket name" in text:
        return StorageError(
            f"{_bucket(uri)}: not a valid bucket name (S3: 3-63 lowercase letters, digits, '.' and '-')"
        )
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
    if isinstance(getattr(exc, "status", None), int):  # an HTTP answer (aiohttp's ClientResponseError)
        return StorageError(f"{uri}: the server answered HTTP {exc.status} ({getattr(exc, 'message', text)})")
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


def read_bytes(uri: str, options: StorageOptions | None = None) -> bytes:
    """Read a whole object."""
    fs, path = get_fs(uri, options)
    with storage_errors(uri):
        return fs.cat_file(path)


@contextlib.contextmanager
def open_for_reading(uri: str, options: StorageOptions | None = None) -> Iterator[BinaryIO]:
    """A seekable file of `uri`, its errors StorageErrors (the block's own LenetErrors pass through).

    An HTTP server that ignores range requests (Python's http.server, some proxies) lets fsspec read a
    file only from its start: its whole object is read into memory once instead (up to
    backends.WHOLE_OBJECT_LIMIT; beyond, a StorageError saying why).
    """
    fs, path = get_fs(uri, options)
    with storage_errors(uri):
        f = fs.open(path, "rb")
        try:
            if backends.refuses_ranges(f):
                f.close()
                f = backends.whole_object(fs, path, uri)
            yield f
        finally:
            f.close()


def exists(uri: str, options: StorageOptions | None = None) -> bool:
    """True when the object or folder exists; in a bucket that does not exist, a StorageError saying so."""
    fs, path = get_fs(uri, options)
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
    raise StorageError(f"{_bucket(uri)}: the bucket does not exist; check its name, or create it")


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
    """Read a JSON object; a malformed file is a StorageError naming it."""
    raw = read_bytes(uri, options)
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
