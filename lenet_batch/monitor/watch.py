"""What the nightly tells the outside when it ends: the metrics file and the webhook (both optional).

The nightly enters the watch before anything else and tells it how the night ended, from what it holds in
memory (the night's state, the heartbeat it wrote): nothing is read back for it. A night that ended in an
error is told from the run's owner when the night wrote something; a refusal that wrote nothing (bad
settings, another run's lock) and a stop by SIGTERM tell nobody. Neither can fail the night or prolong it
beyond --notify-timeout: their problems are logged.
"""

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lenet_batch.config import Settings
from lenet_batch.errors import EXIT_BUG
from lenet_batch.monitor import health, metrics, notify
from lenet_batch.state import listing
from lenet_batch.state.night import NightStatus, night_status
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from lenet_batch.units import parse_duration

if TYPE_CHECKING:
    from lenet_batch.pipeline.owner import RunOwner

log = logging.getLogger(__name__)


@dataclass
class NightWatch:
    """The nightly's monitoring settings, and the run's owner once the night has one."""

    layout: Layout
    notify_url: str
    notify_on: str
    notify_timeout: float
    metrics_file: str
    max_age_seconds: float
    stale_lock_seconds: int
    owner: "RunOwner | None" = field(default=None)
    nights: "listing.Nights | None" = field(default=None)  # the other nights as the nightly read them

    @classmethod
    def start(cls, settings: Settings) -> "NightWatch":
        """The watch of one nightly (nothing is read or written yet)."""
        return cls(
            settings.layout(),
            settings.notify,
            settings.notify_on,
            settings.notify_timeout,
            settings.metrics_file,
            parse_duration(settings.max_age, "--max-age"),
            settings.stale_lock_seconds,
        )

    def __enter__(self) -> "NightWatch":
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, tb: object) -> None:
        if error is not None and isinstance(error, Exception) and self.owner is not None and self.owner.wrote:
            self._told(night_status(self.owner.state), str(error), getattr(error, "exit_code", EXIT_BUG))

    def night_ended(self, owner: "RunOwner | None") -> None:
        """The night ended well (exit 0): tell it, unless it had nothing to do."""
        if owner is not None and owner.wrote:
            self._told(night_status(owner.state), "", 0)

    def _told(self, night: NightStatus, error: str, code: int) -> None:
        """Write the metrics file and call the webhook as asked; every problem is logged, none raised."""
        if not (self.notify_url or self.metrics_file):
            return
        try:
            if self.metrics_file:
                metrics.write_metrics(self.metrics_file, self._health(night))
            if self.notify_url:
                history = storage.join(self.layout.history_dir(), "history.html")
                notice = notify.notice_of(night, self.layout.output, history, error, code)
                if notify.wanted(notice, self.notify_on):
                    notify.send(self.notify_url, notice, self.notify_timeout)
        except Exception:  # monitoring must never change the night's outcome
            log.exception("the night's metrics or webhook failed")

    def _health(self, night: NightStatus) -> health.Health:
        """What `check` would say now: from tonight's status when it is the newest night (no record read
        again), else read as `check` reads it."""
        newest = self.nights.newest(self.owner.state) if self.nights and self.owner else None
        if newest != night.run_id:
            return health.assess(self.layout, self.max_age_seconds, self.stale_lock_seconds)
        return health.health_of(self.layout, night, health.read_heartbeat(self.layout), self.max_age_seconds)
