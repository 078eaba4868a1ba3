"""What may stand where the program reads a file: a FIFO, a folder, a symlink loop or a dangling link,
devices, a socket. Each member makes one in place of a path and names the reason the program must give."""

import contextlib
import os
import signal
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def _fresh(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()


def _fifo(path: Path) -> None:
    _fresh(path)
    os.mkfifo(path)


def _folder(path: Path) -> None:
    _fresh(path)
    path.mkdir()
    (path / "inside").write_text("x")


def _link_to(target: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        _fresh(path)
        path.symlink_to(target)

    return make


def _symlink_loop(path: Path) -> None:
    _fresh(path)
    path.symlink_to(path.name)  # points at itself: ELOOP


def _char_device(path: Path) -> None:
    _fresh(path)
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # the device /dev/null is
    except PermissionError:
        pytest.skip("cannot make a device node here (needs CAP_MKNOD)")


def _socket(path: Path) -> None:
    _fresh(path)
    before = os.getcwd()
    os.chdir(path.parent)  # a relative name: socket paths are limited to 108 bytes
    try:
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(path.name)  # the socket file stays after the socket is closed
    finally:
        os.chdir(before)


# name -> (make it in place of a path, what the one-line reason says)
SPECIAL = {
    "fifo": (_fifo, "not a regular file (a FIFO)"),
    "folder": (_folder, "is a folder, not a file"),
    "symlink-loop": (_symlink_loop, "a symlink loop"),
    "dev-zero": (_link_to("/dev/zero"), "not a regular file (a character device)"),
    "dev-null": (_link_to("/dev/null"), "not a regular file (a character device)"),
    "char-device": (_char_device, "not a regular file (a character device)"),
    "socket": (_socket, "not a regular file (a socket)"),
}
# The kinds never taken for a lock or a mark (a dangling link reads as "not found" elsewhere).
NOT_A_FILE = {**SPECIAL, "dangling-symlink": (_link_to("/nonexistent/x"), "a symlink to nothing")}


def make(member: str, path: Path) -> str:
    """Put the member in place of `path`; returns the reason the program must give."""
    maker, reason = NOT_A_FILE[member]
    maker(path)
    return reason


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (TimeoutError) instead of hanging when the block waits longer, e.g. on a FIFO's open()."""

    def expired(*_) -> None:
        raise TimeoutError(f"still waiting after {seconds} s: a read that blocks")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
