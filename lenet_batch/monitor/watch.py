"""What the nightly tells the outside when it ends, however it ends: the metrics file and the webhook.

The nightly enters the watch first and leaves it last, so every end reaches it: a good night, regressed,
inconclusive, seeds failed, a failed stage, a crash (a bug, a Ray that would not start) before or after
run.json, a refusal (exit 2: the night did not run, nothing written), another run's lock (exit 5), and
SIGTERM or Ctrl-C (143/130, told before the process exits). Each is told from what the nightly holds in
memory; the metrics file gets the output's health and the attempt (`lenet_batch_last_attempt_*`), the
webhook every non-zero end (and, with --notify-on always, every night that did something). Neither can
fail the night or prolong it beyond --notify-timeout: their problems are logged in one line.
"""

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lenet_batch.config import Settings
from lenet_batch.errors import (
    EXIT_BUG,
    EXIT_INCONCLUSIVE,
    EXIT_INTERRUPTED,
    EXIT_REGRESSION,
    EXIT_SEEDS_FAILED,
    EXIT_USAGE,
    LenetError,
    LockHeld,
)
from lenet_batch.monitor import health, metrics, notify
from lenet_batch.provenance import now_utc
from lenet_batch.state import listing
from lenet_batch.state.night import NightStatus, night_status
from lenet_batch.state.outcome import (
    FAILED,
    INCONCLUSIVE,
    INTERRUPTED,
    LOCKED,
    OK,
    REFUSED,
    REGRESSED,
    SEEDS_FAILED,
    AttemptEnd,
    night_outcome,
)
from lenet_batch.state.run_state import RunState
from lenet_batch.stops import by_sigterm
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from lenet_batch.units import parse_duration

if TYPE_CHECKING:
    from lenet_batch.pipeline.owner import RunOwner

log = logging.getLogger(__name__)
EXIT_CTRL_C = 130


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, LenetError) else f"a bug: {type(error).__name__}: {text}"


BY_EXIT = {EXIT_SEEDS_FAILED: SEEDS_FAILED, EXIT_REGRESSION: REGRESSED, EXIT_INCONCLUSIVE: INCONCLUSIVE}


def attempt_end(run_id: str, error: BaseException | None, night: RunState | None, wrote: bool) -> AttemptEnd:
    """How the attempt ended, in the outcome vocabulary, from what ended it (None: a good end, named by the
    night's outcome); a usage error before anything was written is a refusal."""
    said = "" if error is None else _one_line(error)
    if isinstance(error, KeyboardInterrupt):
        sigterm = by_sigterm(error)
        said = "stopped by SIGTERM" if sigterm else "stopped by Ctrl-C"
        return AttemptEnd(run_id, INTERRUPTED, EXIT_INTERRUPTED if sigterm else EXIT_CTRL_C, said, now_utc())
    if error is None:
        return AttemptEnd(run_id, night_outcome(night).outcome if night else OK, 0, "", now_utc())
    code = error.exit_code if isinstance(error, LenetError) else EXIT_BUG
    if isinstance(error, LockHeld):
        outcome = LOCKED
    elif code == EXIT_USAGE and not wrote:
        outcome = REFUSED
    else:
        outcome = BY_EXIT.get(code, FAILED)
    return AttemptEnd(run_id, outcome, code, said, now_utc())


@dataclass
class NightWatch:
    """The nightly's monitoring settings, and what it knows of the night as it goes."""

    layout: Layout
    run_id: str
    settings: Settings = field(repr=False)
    owner: "RunOwner | None" = None  # the run's owner once the night holds the lock
    state: RunState | None = None  # the night as read before the lock
    nights: listing.Nights | None = None  # the other nights as the nightly read them
    nothing_to_do: bool = False

    @classmethod
    def start(cls, settings: Settings) -> "NightWatch":
        """The watch of one nightly (nothing is read or written yet)."""
        return cls(settings.layout(), settings.resolved_run_id(), settings)

    def __enter__(self) -> "NightWatch":
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, tb: object) -> None:
        if error is None or isinstance(error, Exception | KeyboardInterrupt):
            self.tell(error)

    def tell(self, error: BaseException | None) -> None:
        """Write the metrics file and call the webhook as asked; every problem is logged, none raised."""
        s = self.settings
        if not (s.notify or s.metrics_file):
            return
        state = self.owner.state if self.owner is not None else self.state
        end = attempt_end(self.run_id, error, state, self.owner is not None and self.owner.wrote)
        night = night_status(state) if state is not None and state.exists else None
        try:
            if s.metrics_file:
                self._write_metrics(night, end)
            if s.notify and not (self.nothing_to_do and error is None):
                self._notify(night, end)
        except Exception as exc:  # monitoring must never change the night's outcome
            log.error("the night's metrics or webhook failed: %s", _one_line(exc))

    def _write_metrics(self, night: NightStatus | None, end: AttemptEnd) -> None:
        try:
            found = self._health(night)
        except LenetError as exc:  # after a failed attempt, its own line has said why already
            said = log.warning if end.exit_code == 0 else log.info
            said("the output's health could not be read for the metrics file: %s", exc)
            found = None
        try:
            metrics.write_metrics(
                self.settings.metrics_file,
                self.layout.output,
                found,
                *metrics.attempt_samples(end, self.layout.output),
            )
        except LenetError as exc:
            log.error("metrics file %s not written: %s", self.settings.metrics_file, exc)

    def _notify(self, night: NightStatus | None, end: AttemptEnd) -> None:
        history = storage.join(self.layout.history_dir(), "history.html")
        base = self.settings.report_base_url
        notice = notify.notice_of(night, end, self.layout.output, history, base)
        if notify.wanted(notice, self.settings.notify_on):
            notify.send(self.settings.notify, notice, self.settings.notify_timeout)

    def _health(self, night: NightStatus | None) -> health.Health | None:
        """What `check` would say now: from tonight's status when it is the newest night (no record read
        again), else read as `check` reads it; None for an output nothing was written to yet."""
        max_age = parse_duration(self.settings.max_age, "--max-age")
        tonight = self.owner.state if self.owner is not None else self.state
        newest = self.nights.newest(tonight) if self.nights is not None and tonight is not None else None
        if night is None or newest != night.run_id:
            if not storage.exists(self.layout.output, self.layout.options):
                return None  # a first night that ended before writing: only its attempt is told
            return health.assess(self.layout, max_age, self.settings.stale_lock_seconds)
        return health.health_of(self.layout, night, health.read_heartbeat(self.layout), max_age)
