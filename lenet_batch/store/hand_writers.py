"""A hand `infer`, `summary` or `history` and the nightly never write one run at the same time.

The nightly holds the output's lock (store/lock.py). A hand command does not take it: two hand `infer`s of one
run may score side by side, each partition committed atomically. Instead each side announces itself and then
looks for the other: a hand command writes a marker under <output>/_writers/ and then checks the lock; the
nightly takes the lock and then checks the markers. Whichever comes second sees the first and is refused
(exit 5), so the two never interleave. A marker whose process is certainly gone, or older than the lock's
stale age, is ignored; the marker is removed when the hand command ends, however it ends.
"""

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

from lenet_batch.errors import LenetError, LockHeld
from lenet_batch.provenance import now_utc, parse_utc
from lenet_batch.store import lock, record_reads, storage, writers
from lenet_batch.store.layout import Layout

log = logging.getLogger(__name__)

MARKERS = "_writers"  # under the output, beside _lock.json


def marker_uri(layout: Layout, command: str, run_id: str | None, me: dict[str, Any]) -> str:
    """Where `me` (writers.this_process()) marks itself as running `command` on run_id (None: history/)."""
    name = f"{command}-{run_id or 'history'}-{me['host']}-{me['pid']}.json"
    return storage.join(layout.output, MARKERS, name)


def _remove(layout: Layout, uri: str) -> None:
    """Remove our marker (and the folder when it is left empty, locally); a failure only warns."""
    try:
        storage.remove(uri, layout.options)
        if storage.is_local(uri) and not storage.list_dir(storage.join(layout.output, MARKERS)):
            storage.remove(storage.join(layout.output, MARKERS), layout.options, recursive=True)
    except LenetError as exc:
        log.warning("could not remove %s: %s", uri, exc)


@contextlib.contextmanager
def hand_writer(layout: Layout, command: str, run_id: str | None, stale_seconds: int) -> Iterator[None]:
    """Refuse (LockHeld) when a nightly writes what `command` would (run_id None: history/), else mark
    this process as writing it for the duration of the block."""
    lock.refuse_if_held(layout, command, run_id, stale_seconds)  # the usual case: refused, nothing written
    me = writers.this_process()
    uri = marker_uri(layout, command, run_id, me)
    if not _mark(layout, uri, {"command": command, "run_id": run_id, "started_at": now_utc(), **me}):
        yield
        return
    try:
        lock.refuse_if_held(layout, command, run_id, stale_seconds)  # a nightly that started meanwhile
        yield
    finally:
        _remove(layout, uri)


def _mark(layout: Layout, uri: str, marker: dict[str, Any]) -> bool:
    """Write our marker; False when there is nothing to mark or it cannot be written.

    A local output that does not exist holds no run to protect, and marking it would create it (a command
    refused later must leave nothing behind). A store that refuses the marker (a full disk) gets no
    marker: the command goes on and reports the store's problem (one line) where it meets it.
    """
    if storage.is_local(layout.output) and not storage.exists(layout.output):
        return False
    try:
        storage.write_json_atomic(uri, marker, layout.options)
    except LenetError as exc:  # said once, by the command, when it meets the same store
        log.debug("could not mark this %s as writing: %s", marker["command"], exc)
        return False
    return True


def _age_seconds(started_at: Any) -> float | None:
    started = parse_utc(started_at)
    return None if started is None else (dt.datetime.now(dt.UTC) - started).total_seconds()


def _live_markers(layout: Layout, stale_seconds: int) -> list[dict[str, Any]]:
    """The markers of hand commands that may still be writing: not certainly gone, not older than stale."""
    folder = storage.join(layout.output, MARKERS)
    names = [n for n in storage.list_dir(folder, layout.options) if n.endswith(".json")]
    found = record_reads.read_small_many([storage.join(folder, n) for n in names], layout.options)
    live = []
    for uri, read in found.items():
        marker, problem = record_reads.parse_object(uri, read)  # bounded, regular files only, as listings
        if marker is None:  # removed since the listing (its command ended), or damaged
            if problem:
                log.warning("%s; not a marker, ignored", problem)
            continue
        age = _age_seconds(marker.get("started_at"))
        if age is None or age > stale_seconds:
            continue
        if not writers.certainly_gone(marker, same_boot=not storage.is_local(uri)):
            live.append(marker)
    return live


def refuse_if_hand_writers(layout: Layout, run_id: str, stale_seconds: int) -> None:
    """Refuse (LockHeld) the nightly of run_id, which holds the lock, while a hand command writes that run
    or the history (which every nightly rewrites)."""
    for marker in _live_markers(layout, stale_seconds):
        if marker.get("run_id") in (None, run_id):
            what = f"run {run_id}" if marker.get("run_id") else f"{layout.output}'s history"
            raise LockHeld(
                f"{what} is being written by a hand `{marker.get('command')}` (host {marker.get('host')}, "
                f"pid {marker.get('pid')}, since {marker.get('started_at')}); the nightly is refused rather "
                f"than interleaved with it: run it again once that command has ended"
            )
