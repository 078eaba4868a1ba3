"""The one way a local file is opened for reading: regular files only, never waiting, at most a size.

Any path the program reads may hold something else: a FIFO (a plain open() waits for a writer for ever), a
device (/dev/zero never ends), a folder, a socket, a symlink loop. open_regular opens without blocking,
looks at what it opened (fstat, so there is no race between the look and the read), and refuses anything
but a regular file, with an OSError whose text is the one-line reason (`reason` gives it for any OSError).
No fsspec here: the --config reader uses it before any storage is touched.
"""

import errno
import fcntl
import os
import stat
from typing import BinaryIO

# What a path holds when it is not a regular file, as stat tells it.
KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFile(OSError):
    """A local path that is a FIFO, a device or a socket: never read."""


class FileTooLarge(OSError):
    """A local file larger than its reader takes."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"too large ({size} bytes; at most {limit} are read)", path)
        self.size, self.limit = size, limit


def _kind(mode: int) -> str:
    return next((name for test, name in KINDS if test(mode)), "not a file")


def open_regular(path: str, limit: int | None = None) -> BinaryIO:
    """A buffered binary reader of a regular local file of at most `limit` bytes; else an OSError saying
    why (FileNotFoundError, IsADirectoryError, NotRegularFile, FileTooLarge, ELOOP, EACCES, ...)."""
    try:  # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket (or a FIFO's peer that is gone): nothing to read
            raise NotRegularFile(errno.ENXIO, "not a regular file (a socket)", path) from None
        raise
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", path)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(errno.EINVAL, f"not a regular file ({_kind(info.st_mode)})", path)
        if limit is not None and info.st_size > limit:
            raise FileTooLarge(path, info.st_size, limit)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, limit: int) -> bytes:
    """The whole of a regular local file of at most `limit` bytes (one that grew meanwhile is refused)."""
    with open_regular(path, limit) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(path, len(data), limit)
    return data


def not_readable_kind(exc: BaseException) -> bool:
    """True for what open_regular refuses by the kind of the path: not a regular file, too large, a loop."""
    return isinstance(exc, NotRegularFile | FileTooLarge) or getattr(exc, "errno", None) == errno.ELOOP


def reason(exc: OSError) -> str:
    """What an OSError from reading a local path means, in a few words (the path itself not included)."""
    if isinstance(exc, NotRegularFile | FileTooLarge | IsADirectoryError):
        return exc.strerror or "is a folder, not a file"
    if isinstance(exc, FileNotFoundError):
        return "not found"
    if exc.errno == errno.ELOOP:
        return "a symlink loop"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, NotADirectoryError):
        return "a file is in the way where a folder must be"
    return f"cannot be read ({exc.strerror or type(exc).__name__})"
