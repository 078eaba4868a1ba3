"""What the nightly tells the outside when it ends: the metrics file and the webhook (both optional).

A context manager entered before the output's lock, so that both are told once the lock is released (and
the history rebuilt), on success and on every error of a night that started; a refusal that wrote nothing
(bad settings, another run's lock) and a stop by SIGTERM tell nobody. Neither can fail the night or prolong
it beyond --notify-timeout: their problems are logged.
"""

import logging
from dataclasses import dataclass

from lenet_batch.checks import parse_duration
from lenet_batch.config import Settings
from lenet_batch.errors import EXIT_BUG, LenetError, LockHeld
from lenet_batch.monitor import health, metrics, notify
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef

log = logging.getLogger(__name__)


def _stamp(run: RunRef) -> bytes | None:
    """run.json's bytes now (None: none yet): a night that changed them has started."""
    try:
        return storage.read_many([run.run_json], run.options).get(run.run_json)
    except LenetError:
        return None


@dataclass(frozen=True)
class NightWatch:
    """The nightly's monitoring settings, and run.json as it was before the night."""

    run: RunRef
    notify_url: str
    notify_on: str
    notify_timeout: float
    metrics_file: str
    max_age_seconds: float
    stale_lock_seconds: int
    before: bytes | None

    @classmethod
    def start(cls, settings: Settings, run: RunRef) -> "NightWatch":
        """Note run.json as it is before the night (only when there is something to tell)."""
        telling = bool(settings.notify or settings.metrics_file)
        return cls(
            run,
            settings.notify,
            settings.notify_on,
            settings.notify_timeout,
            settings.metrics_file,
            parse_duration(settings.max_age, "--max-age"),
            settings.stale_lock_seconds,
            _stamp(run) if telling else None,
        )

    def started(self, error: BaseException | None) -> bool:
        """Whether the night did anything: a success, or an error after run.json changed."""
        if error is None:
            return True
        if isinstance(error, LockHeld) or not isinstance(error, Exception):  # SIGTERM: stop at once
            return False
        return _stamp(self.run) not in (None, self.before)

    def __enter__(self) -> "NightWatch":
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, tb: object) -> None:
        self.finish(error)  # the error, if any, goes on

    def finish(self, error: BaseException | None = None) -> None:
        """Write the metrics file and call the webhook as asked; every problem is logged, none raised."""
        if not (self.notify_url or self.metrics_file) or not self.started(error):
            return
        try:
            self._tell(error)
        except Exception:  # monitoring must never change the night's outcome
            log.exception("the night's metrics or webhook failed")

    def _tell(self, error: BaseException | None) -> None:
        layout = self.run.layout
        if self.metrics_file:
            found = health.assess(layout, self.max_age_seconds, self.stale_lock_seconds)
            metrics.write_metrics(self.metrics_file, found)
        if self.notify_url:
            code = 0 if error is None else getattr(error, "exit_code", EXIT_BUG)
            night = health.read_night(layout, self.run.run_id)
            history = storage.join(layout.history_dir(), "history.html")
            notice = notify.notice_of(night, layout.output, history, str(error or ""), code)
            if notify.wanted(notice, self.notify_on):
                notify.send(self.notify_url, notice, self.notify_timeout)
