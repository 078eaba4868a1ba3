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


def write_heartbeat(layout: Layout, run_id: str, headline: str) -> Heartbeat:
    """Record a successful night now; returns what was written."""
    beat = Heartbeat(run_id, now_utc(), headline)
    storage.write_json_atomic(layout.heartbeat(), beat.to_json(), layout.options)
    return beat
