"""Inside a task: its log lines go to the driver's LineSink in batches, without ever waiting on Ray.

A task that blocks in ray.get or ray.wait lends its CPUs back to Ray, which starts another task in them:
a log line sent and waited for made a third seed train on two cores. So lines are sent with
`sink.put.remote(...)` and never waited for; the last batch says how many the task sent in all, and the
driver takes the task's result only once that many have arrived (progress.collect).
"""

import logging
import sys
import threading
import uuid

import ray

from lenet_batch.cluster.progress import Line, record_of
from lenet_batch.cluster.session import restamp_ray_logs
from lenet_batch.store import run_log

BATCH_SECONDS = 0.2  # a line waits at most this long for others to travel with it
MARK = "_lenet_batch"  # on the root handler this module installs (a worker runs many tasks)


class TaskLines(logging.Handler):
    """Collects a task's records and sends them to the sink in batches (a timer thread sends each batch).

    Ray keeps the order of one caller's calls to an actor, so the sink gets the batches in order. Should a
    send fail (the sink gone with its driver), the lines go to stderr, which Ray forwards at best.
    """

    def __init__(self, sink: ray.actor.ActorHandle) -> None:
        super().__init__()
        self.sink = sink
        # The task (as the driver knows its ref) and this execution of it (a retry is another one).
        self.sender = (ray.get_runtime_context().get_task_id(), uuid.uuid4().hex)
        self.sent = 0
        self.setFormatter(logging.Formatter("%(message)s"))  # the message and any traceback; no time
        self.fallback = logging.StreamHandler()
        self.fallback.setFormatter(run_log.formatter())
        self._pending: list[Line] = []
        self._timer: threading.Timer | None = None
        self._finished = False

    def emit(self, record: logging.LogRecord) -> None:
        if self._finished or self.sink is None:
            self.fallback.handle(record)
            return
        line = (record.created, record.levelno, record.name, self.format(record))
        with self.lock:
            self._pending.append(line)
            if self._timer is None:
                self._timer = threading.Timer(BATCH_SECONDS, self._send)
                self._timer.daemon = True
                self._timer.start()

    def _send(self, final: bool = False) -> None:
        with self.lock:
            lines, self._pending, self._timer = self._pending, [], None
            if not lines and not final:
                return
            self.sent += len(lines)
            try:
                self.sink.put.remote(self.sender, lines, self.sent if final else None)
            except Exception:  # noqa: BLE001 - any failure to send: say so once, keep the lines
                self.sink = None
                sys.stderr.write("lenet-batch: the driver no longer takes log lines; they go to stderr\n")
                for line in lines:
                    self.fallback.handle(record_of(line))

    def finish(self) -> None:
        """Send what is left with the count of all lines sent; later records go to stderr."""
        with self.lock:
            timer, self._finished = self._timer, True
        if timer is not None:
            timer.cancel()
        if self.sink is not None:
            self._send(final=True)


def worker_logging(sink: ray.actor.ActorHandle | None = None) -> TaskLines | None:
    """Inside a task: lenet-batch's lines (and others' warnings) to the driver's `sink`, else to stderr.

    Returns the sink's handler, whose finish() the task calls last. Each call replaces the handler the
    previous task in this worker installed.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, MARK, False)]:
        root.removeHandler(old)
    handler: logging.Handler = TaskLines(sink) if sink is not None else logging.StreamHandler()
    if sink is None:
        handler.setFormatter(run_log.formatter())
    handler.addFilter(run_log.ours_or_warnings)
    setattr(handler, MARK, True)
    root.addHandler(handler)
    logging.getLogger("lenet_batch").setLevel(logging.INFO)
    restamp_ray_logs()
    return handler if isinstance(handler, TaskLines) else None
