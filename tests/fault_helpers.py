"""Helpers for the bad-input and fault tests: one-line errors, a silent endpoint, a small filesystem."""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator

import pytest


def assert_one_line_error(returncode: int, stderr: str, code: int = 2, contains: str = "") -> str:
    """The process failed with `code` and exactly one line on stderr (no traceback); returns the line."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert returncode == code, stderr[-3000:]
    assert len(lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr and contains in lines[0], lines[0]
    return lines[0]


@contextlib.contextmanager
def silent_endpoint() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never answers; yields the port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # released on close: nothing listens there


@contextlib.contextmanager
def small_tmpfs(size_kb: int) -> Iterator[str]:
    """A tmpfs of size_kb KiB mounted on a fresh folder (needs root); skips the test when it cannot mount."""
    mount_point = tempfile.mkdtemp(prefix="lbfull-", dir="/tmp")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", mount_point],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        os.rmdir(mount_point)
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); the disk-full test needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", mount_point], capture_output=True)
        shutil.rmtree(mount_point, ignore_errors=True)


def fill(folder: str) -> str:
    """Fill the filesystem of `folder` to the last byte with one file; returns its path."""
    path = os.path.join(folder, "filler")
    with open(path, "wb", buffering=0) as f:
        for chunk in (b"\0" * 65536, b"\0"):  # then byte by byte: the last partial page
            with contextlib.suppress(OSError):
                while f.write(chunk):
                    pass
    return path
