"""Log lines in one format (ISO-8601 UTC with a Z) and a durable copy of them under runs/<run_id>/logs/.

Locally the copy is written line by line; on remote storage (S3) it is rewritten every few seconds, at each
stage boundary and at the end. So a run's story outlives the terminal, the cron file, the cluster, and a
SIGKILLed driver.
"""

import contextlib
import logging
import os
import socket
import threading
import time

from lenet_batch.errors import LenetError
from lenet_batch.redaction import redact_text
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef

log = logging.getLogger(__name__)

LINE_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class UTCFormatter(logging.Formatter):
    """Timestamps as 2026-11-28T06:30:00.123Z, whatever the host's time zone."""

    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        # Lines name URIs (inputs, data, outputs): their credentials never reach a terminal or a log file.
        return redact_text(super().format(record))


def ours_or_warnings(record: logging.LogRecord) -> bool:
    """lenet-batch's own progress lines, and only warnings from other libraries that log through the root."""
    return record.name.startswith("lenet_batch") or record.levelno >= logging.WARNING


def formatter() -> logging.Formatter:
    """The one log line format of lenet-batch: driver, workers and durable copies."""
    return UTCFormatter(LINE_FORMAT)


def log_name(command: str, started: float | None = None) -> str:
    """A file name no other process picks: <command>-<UTC time>-<host>-<pid>.log."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started or time.time()))
    return f"{command}-{stamp}-{socket.gethostname()}-{os.getpid()}.log"


# A copy on remote storage is rewritten at most this often while lines come in (and at each stage boundary).
SAVE_SECONDS = 5.0


class DurableLogHandler(logging.Handler):
    """Keeps the command's log lines in runs/<run_id>/logs/<name>, so that a killed attempt keeps them.

    Locally the lines go into that file one by one as they are logged, once the run's folder exists; the
    lines from before (settings, data loading, Ray starting) are held and written first. On remote storage
    the copy is rewritten every SAVE_SECONDS while lines come in, once the run's run.json exists. A
    refused command's copy is removed again (detach with keep=False), so it leaves no log; nor does a
    command that ended before the run existed (a crash or a stop before the lock): a folder holding only
    logs would read as a damaged night for ever.
    """

    def __init__(self, run: RunRef, name: str) -> None:
        super().__init__()
        self.setFormatter(formatter())
        self.addFilter(ours_or_warnings)
        self.run, self.uri = run, storage.join(run.logs_dir, name)
        self.local = storage.is_local(self.uri)
        self.held: list[str] = []  # every line on remote storage; locally those before the file exists
        self.file = None
        self.made_folder = False  # this handler made runs/<id>/logs/ (removed again when discarded)
        self.written = False  # a copy exists in the run (discard removes it)
        self.dirty = False
        self.warned = False  # a copy that cannot be saved is said once, not every few seconds
        self.broken = False  # writing through failed (a full disk): lines are held, saved at the end
        self.keep = True  # False: the command wrote nothing else (nothing_written), so no log either
        self.stopped = threading.Event()
        self.saving = threading.Lock()
        if not self.local:
            threading.Thread(target=self._save_often, name="durable-log", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        if self.file is None and self.local and not self.broken and _is_dir(self.run.run_dir):
            try:
                self._open()
            except OSError as exc:
                self._broke(exc)
        if self.file is not None:
            try:
                self.file.write(line)
                self.file.flush()  # to the OS, line by line: a SIGKILL loses nothing written
                return
            except OSError as exc:  # a full disk: the run's outcome matters more than its log's copy
                self._broke(exc)
        self.held.append(line)
        self.dirty = True

    def _broke(self, exc: OSError) -> None:
        """Stop writing through (the lines are held from now on) and say so once."""
        self.broken = True
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
            self.file = None
        self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        if not self.warned:
            self.warned = True
            log.warning("could not save the log to %s: %s", self.uri, exc)

    def _open(self) -> None:
        """Create the local file with the lines held so far (makes runs/<id>/logs/ if needed)."""
        path = storage.get_fs(self.uri, self.run.options)[1]
        folder = os.path.dirname(path)
        self.made_folder = not os.path.isdir(folder)
        os.makedirs(folder, exist_ok=True)
        stem, n = self.uri.removesuffix(".log"), 1
        while os.path.exists(
            path
        ):  # an earlier command of this process in the same second: a name of its own
            n += 1
            self.uri = f"{stem}-{n}.log"
            path = storage.get_fs(self.uri, self.run.options)[1]
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the command's length)
        self.written = True
        self.file.write("".join(self.held))
        self.file.flush()
        self.held = []

    def save(self) -> None:
        """Bring the copy up to date now (at a stage boundary, at the end), in a run that exists. A failure
        is only logged."""
        with self.saving:  # one save at a time: an older copy never lands after a newer one
            self._save()

    def _save(self) -> None:
        try:
            if self.local:
                with self.lock:
                    if self.file is None and _is_dir(self.run.run_dir):
                        self._open()
                    elif self.file is not None:
                        self.file.flush()
            elif self.dirty and storage.exists(self.run.run_json, self.run.options):
                with self.lock:
                    data, self.dirty = "".join(self.held).encode(), False
                storage.write_bytes_atomic(self.uri, data, self.run.options)
                self.written = True
        except (LenetError, OSError) as exc:  # the run's outcome matters more than its log's copy
            self._warn(exc)

    def _save_often(self) -> None:
        while not self.stopped.wait(SAVE_SECONDS):
            with self.saving:
                if not self.stopped.is_set():  # not after the command ended (or was refused)
                    self._save()

    def discard(self) -> None:
        """A refused command: remove the copy, and runs/<id>/logs/ if this handler made it and it is empty."""
        self.close()
        with self.saving:  # after a save under way
            if not self.written:
                return
            try:
                storage.remove(self.uri, self.run.options)
                if self.local and self.made_folder:
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.dirname(storage.get_fs(self.uri, self.run.options)[1]))
            except LenetError as exc:
                log.warning("could not remove the log %s of the refused command: %s", self.uri, exc)

    def close(self) -> None:
        self.stopped.set()
        with self.lock:
            if self.file is not None:
                self.file.close()
                self.file = None
        super().close()


def _is_dir(uri: str) -> bool:
    """A local folder exists (a cheap check, made for every line until the run's folder appears)."""
    return os.path.isdir(uri.removeprefix("file://"))


def attach(run: RunRef, name: str) -> DurableLogHandler:
    """Start keeping the process's log records for the run (root logger: lenet_batch's and Ray's)."""
    handler = DurableLogHandler(run, name)
    logging.getLogger().addHandler(handler)
    return handler


def detach(handler: DurableLogHandler, keep: bool) -> None:
    """Stop keeping records; with `keep` the copy is completed, else (a refused command) removed."""
    logging.getLogger().removeHandler(handler)
    if keep and handler.keep:
        handler.stopped.set()  # the periodic saves end before the last one
        handler.save()  # in a run that exists: none is made for the log alone
        handler.close()
    else:
        handler.discard()


def nothing_written() -> None:
    """The command found nothing to do: the attached durable copies are removed when it ends (no log)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, DurableLogHandler):
            handler.keep = False


def save_all() -> None:
    """Save every attached durable copy now (at a stage boundary)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, DurableLogHandler):
            handler.save()
