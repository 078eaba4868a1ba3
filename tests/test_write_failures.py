"""Writes that the disk refuses end in one line and leave nothing half-made: a full disk (a small tmpfs
filled to the last byte), a read-only file system (the same tmpfs remounted read-only), a store that denies
permission. Every storage write path, and the hand commands that write an output."""

import contextlib
import os
import subprocess
from collections.abc import Iterator

import pytest

from lenet_batch.errors import StorageError
from lenet_batch.store import failures, hand_writers, lock, storage
from lenet_batch.store.layout import Layout
from tests.fault_helpers import assert_one_line_error, fill, small_tmpfs
from tests.history_helpers import write_synthetic_runs
from tests.input_helpers import run_main, trained_run_at

FULL = "No space left on device: free some, or write elsewhere"
READ_ONLY = "Read-only file system: nothing can be written there"


@contextlib.contextmanager
def read_only(mount_point: str) -> Iterator[None]:
    """The tmpfs at mount_point remounted read-only for the block (root bypasses file modes, not this)."""
    subprocess.run(["mount", "-o", "remount,ro", mount_point], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["mount", "-o", "remount,rw", mount_point], check=True, capture_output=True)


def _leftovers(folder: str) -> list[str]:
    return [name for _, _, names in os.walk(folder) for name in names if name.startswith(".tmp-")]


def test_every_storage_write_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    with small_tmpfs(256) as disk:
        out = os.path.join(disk, "out")
        os.mkdir(out)
        layout = Layout(out)
        filler = fill(disk)
        try:
            writes = {
                f"{out}/a.bin": lambda: storage.write_bytes_atomic(f"{out}/a.bin", b"x" * 10_000),
                f"{out}/a.json": lambda: storage.write_json_atomic(f"{out}/a.json", {"k": "v" * 10_000}),
                f"{out}/_lock.json": lambda: lock.acquire(layout.run("n"), stale_seconds=60),
            }
            for uri, write in writes.items():
                with pytest.raises(StorageError) as refused:
                    write()
                assert str(refused.value) == f"{uri}: {FULL}"
            # A hand command whose mark does not fit goes on (and says the store's problem where it meets it)
            with hand_writers.hand_writer(layout, "summary", "n", stale_seconds=60):
                pass
        finally:
            os.unlink(filler)
        assert os.listdir(out) == [] and _leftovers(disk) == []  # no lock, no mark, no temporary file


def test_history_on_a_full_disk_exits_2_with_one_line(tmp_path, capsys):
    with small_tmpfs(4096) as disk:
        out = os.path.join(disk, "out")
        write_synthetic_runs(out, 3, 3)
        filler = fill(disk)
        try:
            code, err = run_main(capsys, "history", "--output", out)
        finally:
            os.unlink(filler)
        assert_one_line_error(code, err, 2, FULL)
        assert _leftovers(disk) == [] and not os.path.exists(os.path.join(out, hand_writers.MARKERS))


@pytest.mark.parametrize(
    "argv",
    [
        ["infer", "--run", "r", "--seeds", "0", "--force"],
        ["summary", "--run", "r", "--force"],
        ["history"],
    ],
    ids=["infer --force", "summary --force", "history"],
)
def test_a_hand_command_on_a_read_only_output_says_so_in_one_line(tmp_path, capsys, argv):
    with small_tmpfs(8192) as disk:
        out = trained_run_at(os.path.join(disk, "out"))
        before = sorted(os.walk(out))
        with read_only(disk):
            code, err = run_main(capsys, *argv, "--output", out)
        line = assert_one_line_error(code, err, 2, f"{out}: cannot be written ({READ_ONLY})")
        assert line.endswith(f"`{argv[0]}` wrote nothing") and sorted(os.walk(out)) == before


@pytest.mark.parametrize("command", ["nightly", "train"])
def test_a_run_on_a_read_only_output_is_one_line(tmp_path, capsys, small_data_dir, command):
    with small_tmpfs(1024) as disk:
        out = os.path.join(disk, "out")
        os.mkdir(out)
        with read_only(disk):
            args = ["--output", out, "--seeds", "0", "--data", small_data_dir, "--no-verify", "--run-id", "n"]
            code, err = run_main(capsys, command, *args)
        assert_one_line_error(code, err, 2, READ_ONLY)
        assert os.listdir(out) == []


def test_a_store_that_denies_permission_refuses_the_hand_command_before_it_writes(tmp_path, monkeypatch):
    layout = Layout(str(tmp_path))

    def denied(uri, value, options=None):
        raise failures.storage_error(uri, PermissionError(13, "Access Denied"))

    monkeypatch.setattr(storage, "write_json_atomic", denied)  # what s3fs raises for S3's AccessDenied
    with pytest.raises(failures.Refused, match=rf"{tmp_path}: cannot be written \(permission denied"):
        with hand_writers.hand_writer(layout, "infer", "r", stale_seconds=60):
            pytest.fail("the command ran on a store that refuses its writes")
