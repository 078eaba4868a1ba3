"""What differs between fsspec backends: timeouts and retries in seconds, their errors, who can see them.

The limits travel inside the storage options under two reserved keys (set from the `storage_timeout` and
`storage_retries` settings), so every filesystem opened with those options -- by the driver or by a Ray
worker -- fails within the same bound. They are removed before the options reach fsspec.
"""

import io
import logging
import sys
from typing import Any, BinaryIO

from lenet_batch.errors import ConfigError, StorageError

TIMEOUT_OPTION = "lenet_batch_timeout"
RETRIES_OPTION = "lenet_batch_retries"
DEFAULT_TIMEOUT = 10.0  # seconds to connect, and to wait for each read
DEFAULT_RETRIES = 2  # attempts after the first, for transient network errors
RESERVED = (TIMEOUT_OPTION, RETRIES_OPTION)
# fsspec's keyword options for a filesystem (credentials, endpoint_url, client_kwargs, ...), plus the two
# limits above: a mapping of the backend's own, checked by the backend.
StorageOptions = dict[str, Any]
WHOLE_OBJECT_LIMIT = 1 << 30  # bytes of an input read into memory when its HTTP server refuses ranges
log = logging.getLogger(__name__)

# Filesystems that live in one process's memory: a Ray worker sees an empty one of its own.
IN_PROCESS = ("memory",)
# Object stores whose first path segment is a bucket (a missing one reads as a missing key otherwise).
BUCKET_STORES = ("s3", "s3a", "gs", "gcs")

# Exception classes (module, names) that backends raise for a store that refuses, times out or rejects the
# request, beyond OSError. Looked up only in modules already imported: no backend is imported to check.
BACKEND_ERRORS = {
    "botocore.exceptions": ("BotoCoreError", "ClientError"),
    "aiohttp": ("ClientError",),
    "ftplib": ("Error",),
    "paramiko": ("SSHException",),
}


def protocols(uri: str) -> list[str]:
    """The protocol of each filesystem in a (possibly chained, 'a::b://…') URI; 'file' for plain paths."""
    found = []
    for part in uri.split("::"):
        protocol, sep, _ = part.partition("://")
        found.append(protocol.lower() if sep else "file")
    return found


def limits(options: StorageOptions | None) -> tuple[float, int]:
    """(timeout seconds, retries) carried by the options, else the defaults."""
    given = options or {}
    return float(given.get(TIMEOUT_OPTION, DEFAULT_TIMEOUT)), int(given.get(RETRIES_OPTION, DEFAULT_RETRIES))


def _merged(defaults: dict[str, Any], given: Any) -> Any:
    """The user's dict over our defaults (a value of the wrong type is left for the backend to reject)."""
    if given is None:
        return defaults
    return {**defaults, **given} if isinstance(given, dict) else given


def fs_kwargs(uri: str, options: StorageOptions | None) -> StorageOptions:
    """The options fsspec gets for a URI: the user's, over our timeouts for the backends we know."""
    kwargs = {k: v for k, v in (options or {}).items() if k not in RESERVED}
    timeout, retries = limits(options)
    protocol = protocols(uri)[0]
    if protocol in ("s3", "s3a"):
        config = {
            "connect_timeout": timeout,
            "read_timeout": timeout,
            "retries": {"total_max_attempts": retries + 1, "mode": "standard"},
        }
        kwargs["config_kwargs"] = _merged(config, kwargs.get("config_kwargs"))
    elif protocol in ("http", "https"):
        import aiohttp  # only for http(s) URIs; fsspec's HTTP filesystem needs it anyway

        wait = aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout, sock_read=timeout)
        kwargs["client_kwargs"] = _merged({"timeout": wait}, kwargs.get("client_kwargs"))
    elif protocol in ("ftp", "sftp", "ssh"):
        kwargs.setdefault("timeout", timeout)
    return kwargs


def _no_expect_continue(params: dict[str, Any], **_: Any) -> None:
    # aiohttp waits for "100 Continue" with no timeout at all: a silent endpoint would hold a PUT forever.
    params.get("headers", {}).pop("Expect", None)


def tune(fs: Any) -> None:
    """Backend settings that are attributes rather than options (may connect: call under storage_errors)."""
    if type(fs).__name__ != "S3FileSystem":
        return
    # botocore retries (standard mode, above); s3fs's own loop would multiply the attempts (5 x 3).
    fs.retries = 1
    client = fs.s3  # made on first use; again if s3fs ever remakes it
    if getattr(fs, "_lenet_batch_client", None) is not client:
        # After botocore's own handler on the same event, which adds the header to every PUT with a body.
        client.meta.events.register_last("before-call.s3", _no_expect_continue)
        fs._lenet_batch_client = client


def error_types() -> tuple[type[BaseException], ...]:
    """Non-OSError exception classes of the loaded backends that mean the store failed the request."""
    found: list[type[BaseException]] = []
    for module_name, names in BACKEND_ERRORS.items():
        module = sys.modules.get(module_name)
        found += [getattr(module, name) for name in names if module is not None and hasattr(module, name)]
    return tuple(found)


def unsatisfiable(exc: BaseException) -> bool:
    """True for the answer to a ranged GET of an empty object (HTTP 416; S3 says InvalidRange)."""
    return "range is not satisfiable" in str(exc).lower() or "InvalidRange" in str(exc)


def read_head(fs: Any, path: str, size: int) -> bytes:
    """At most the first `size` bytes of a remote object, in one ranged GET (an empty object gives b"")."""
    try:
        return fs.cat_file(path, start=0, end=size)
    except OSError as exc:
        if unsatisfiable(exc):
            return b""
        raise


def refuses_ranges(f: Any) -> bool:
    """True for an HTTP file whose server answers a request for byte 1 with something else."""
    if type(f).__name__ != "HTTPFile" or not getattr(f, "size", 0) or f.size < 2:
        return False
    try:
        f._fetch_range(1, 2)  # one byte, not from the start: what fsspec cannot read without ranges
    except ValueError as exc:
        return "range requests" in str(exc)
    return False


def whole_object(fs: Any, path: str, uri: str) -> BinaryIO:
    """The object's bytes as a seekable file in memory (for a server that refuses ranges), size-checked."""
    size = fs.size(path)
    if size > WHOLE_OBJECT_LIMIT:
        raise StorageError(
            f"{uri}: the server does not support range requests, and the file ({size / 2**20:.0f} MiB) is "
            f"too large to read into memory at once; serve it from a server that does, or copy it locally"
        )
    log.warning(
        "%s: the server does not support range requests; reading the whole file (%d bytes)", uri, size
    )
    return io.BytesIO(fs.cat_file(path))


def check_reachable_by_workers(*uris: str | None) -> None:
    """Refuse URIs that Ray workers cannot see (an in-process filesystem such as memory://)."""
    for uri in uris:
        if not uri:
            continue
        shared = [p for p in protocols(uri) if p in IN_PROCESS]
        if shared:
            raise ConfigError(
                f"{uri}: {shared[0]}:// lives in this process's memory, and the Ray workers that train and "
                "score cannot see it (their writes would be lost); use a local folder or an object store "
                "such as s3://"
            )


def check_protocol(uri: str, flag: str) -> None:
    """A URI whose protocol fsspec does not know is a ConfigError naming the flag."""
    from fsspec.registry import known_implementations, registry

    for protocol in protocols(uri):
        if protocol not in known_implementations and protocol not in registry:
            raise ConfigError(f"{flag} {uri}: unknown storage protocol {protocol!r}")
