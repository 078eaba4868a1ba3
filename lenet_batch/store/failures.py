"""One line for a filesystem's error on one URI (any backend: refused, timed out, rejected, not a file).

storage_errors() is the context every storage call runs in; storage.py re-exports it.
"""

import contextlib
import errno
from collections.abc import Iterator

from lenet_batch.errors import LenetError, StorageError
from lenet_batch.store import backends, local_files

MESSAGE_LIMIT = 400  # characters of a backend's message in an error line
DISK_ERRORS = {  # the OS's words (what `df`, `mount` and the kernel's log say), then what to do
    errno.EROFS: "Read-only file system: nothing can be written there",
    errno.ENOSPC: "No space left on device: free some, or write elsewhere",
    errno.EDQUOT: "Disk quota exceeded: free some, or write elsewhere",
}


NOT_FOUND_CODES = ("NoSuchKey", "404", "NotFound")  # what S3 answers for a key that is not there


class Refused(StorageError):
    """The store refuses the request whatever is tried again: a read-only file system, permission denied."""


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


def bucket_of(uri: str) -> str:
    """s3://bucket of s3://bucket/key (the URI itself for other stores)."""
    protocol, sep, rest = uri.partition("://")
    return f"{protocol}://{rest.split('/', 1)[0]}" if sep else uri


def _hidden_cause(exc: FileNotFoundError) -> BaseException | None:
    """The real error behind a FileNotFoundError that is not one: fsspec's HTTP filesystem reports every
    failed lookup (connection refused, timed out, HTTP 403 or 500) as "not found", its cause attached."""
    cause = exc.__cause__
    if cause is None or isinstance(cause, FileNotFoundError) or getattr(cause, "status", None) == 404:
        return None
    code = (getattr(cause, "response", None) or {}).get("Error", {}).get("Code")  # botocore's ClientError
    return None if code in NOT_FOUND_CODES else cause


def storage_error(uri: str, exc: BaseException) -> StorageError:
    """One line for a filesystem's error on one URI, saying what to check."""
    text = _first_line(exc)
    if isinstance(exc, FileNotFoundError) and _hidden_cause(exc) is not None:
        return storage_error(uri, _hidden_cause(exc))
    if "NoSuchBucket" in f"{text} {exc.__cause__}" or "bucket does not exist" in text.lower():
        return StorageError(f"{bucket_of(uri)}: the bucket does not exist; check its name, or create it")
    if "Invalid bucket name" in text:
        return StorageError(
            f"{bucket_of(uri)}: not a valid bucket name (S3: 3-63 lowercase letters, digits, '.' and '-')"
        )
    if isinstance(exc, FileNotFoundError):
        return StorageError(f"{uri}: not found")
    if local_files.not_readable_kind(exc):
        return StorageError(f"{uri}: {local_files.reason(exc)}")
    if isinstance(exc, OSError) and exc.errno in DISK_ERRORS:  # the OS's own text names a temporary file
        return (Refused if exc.errno == errno.EROFS else StorageError)(f"{uri}: {DISK_ERRORS[exc.errno]}")
    if isinstance(exc, PermissionError):
        return Refused(f"{uri}: permission denied ({text}); check the path or the credentials")
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
        raise storage_error(uri, exc) from None
