"""<output>/_last_success.json: the last night that succeeded, written last by the nightly (read by the
monitor)."""

from dataclasses import dataclass

from lenet_batch.json_records import JsonRecord
from lenet_batch.provenance import now_utc
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout


@dataclass(frozen=True)
class Heartbeat(JsonRecord):
    """_last_success.json: the run, when it finished, and its headline."""

    run_id: str | None = None
    finished_at: str | None = None
    headline: str | None = None


def write_heartbeat(layout: Layout, run_id: str, headline: str, finished_at: str | None = None) -> Heartbeat:
    """Record a successful night (finished now, or at `finished_at`: a night accepted later); returns what
    was written."""
    beat = Heartbeat(run_id, finished_at or now_utc(), headline)
    storage.write_json_atomic(layout.heartbeat(), beat.to_json(), layout.options)
    return beat
