"""Log lines in one format (ISO-8601 UTC with a Z) and a durable copy of them under runs/<run_id>/logs/.

The copy is spooled to a local temporary file and saved to the run's folder (local or S3) at the end of a
command and at each stage boundary, so a run's story outlives the terminal, the cron file and the cluster.
"""

import logging
import os
import socket
import tempfile
import time

from lenet_batch.errors import LenetError
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


class DurableLogHandler(logging.FileHandler):
    """Spools every record to a local file; `save()` copies the file to the run's logs folder."""

    def __init__(self, run: RunRef, name: str) -> None:
        fd, self.spool = tempfile.mkstemp(prefix="lenet-batch-", suffix=".log")
        os.close(fd)
        super().__init__(self.spool, encoding="utf-8")
        self.setFormatter(formatter())
        self.addFilter(ours_or_warnings)
        self.run, self.uri = run, storage.join(run.logs_dir, name)

    def save(self) -> None:
        """Write the lines so far to runs/<run_id>/logs/<name> (atomically; a failure is only logged)."""
        self.flush()
        try:
            with open(self.spool, "rb") as f:
                storage.write_bytes_atomic(self.uri, f.read(), self.run.options)
        except (LenetError, OSError) as exc:  # the run's outcome matters more than its log's copy
            log.warning("could not save the log to %s: %s", self.uri, exc)

    def close(self) -> None:
        super().close()
        if os.path.exists(self.spool):
            os.unlink(self.spool)


def attach(run: RunRef, name: str) -> DurableLogHandler:
    """Start spooling the process's log records for the run (root logger: lenet_batch's and Ray's)."""
    handler = DurableLogHandler(run, name)
    logging.getLogger().addHandler(handler)
    return handler


def detach(handler: DurableLogHandler, keep: bool) -> None:
    """Stop spooling; save the copy first when `keep`."""
    logging.getLogger().removeHandler(handler)
    if keep:
        handler.save()
    handler.close()


def save_all() -> None:
    """Save every attached durable copy now (at a stage boundary)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, DurableLogHandler):
            handler.save()
