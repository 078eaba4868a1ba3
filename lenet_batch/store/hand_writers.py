"""A hand `infer`, `summary` or `history` and the nightly never write one run at the same time.

The nightly holds the output's lock (store/lock.py). A hand command does not take it: two hand `infer`s of one
run may score side by side, each partition committed atomically. Instead each side announces itself and then
looks for the other: a hand command writes a marker under <output>/_writers/ and then checks the lock; the
nightly takes the lock and then checks the markers. Whichever comes second sees the first and is refused
(exit 5), so the two never interleave. A marker whose process is certainly gone, or older than the lock's
stale age, is ignored; so is one dated more than 10 minutes ahead of this host's clock (warned: waiting for
it would block every nightly for ever). A mark that does not read as one -- a folder, a FIFO, a device, a
symlink loop in its place, or a file that is not a mark's JSON -- refuses the nightly (exit 5) naming the
path to delete, as an unreadable lock does; a damaged file stops refusing once it is older than the stale
age. The marker is removed when the hand command ends, however it ends.

`prune` is a hand command on the history that removes other nights' files: every hand command (and a second
prune) looks for a live prune's mark after marking itself, and is refused (exit 5) while one runs; the
prune, once marked, leaves alone the nights that hand commands are writing.
"""

import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

from lenet_batch.errors import LenetError, LockHeld
from lenet_batch.json_records import RecordError
from lenet_batch.provenance import now_utc, parse_utc
from lenet_batch.store import found_files, lock, storage, writers
from lenet_batch.store.failures import Refused
from lenet_batch.store.layout import Layout

log = logging.getLogger(__name__)

MARKERS = "_writers"  # under the output, beside _lock.json


@dataclass(frozen=True, kw_only=True)
class WriterMark(writers.Process):
    """A mark under _writers/: a hand `command` (infer, summary, accept, history, prune) writing run_id
    (None: history/) since started_at, and the process doing it."""

    command: str
    run_id: str | None = None
    started_at: str


def marker_uri(layout: Layout, mark: WriterMark) -> str:
    """Where a hand command's mark lives."""
    name = f"{mark.command}-{mark.run_id or 'history'}-{mark.host}-{mark.pid}.json"
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
    mark = writers.this_process(WriterMark, command=command, run_id=run_id, started_at=now_utc())
    uri = marker_uri(layout, mark)
    if not _mark(layout, uri, mark):
        yield
        return
    try:
        lock.refuse_if_held(layout, command, run_id, stale_seconds)  # a nightly that started meanwhile
        _refuse_while_pruning(layout, command, uri, stale_seconds)
        yield
    finally:
        _remove(layout, uri)


def _refuse_while_pruning(layout: Layout, command: str, own: str, stale_seconds: int) -> None:
    """Refuse (LockHeld) a hand command, a second prune included, while a prune removes old nights: each
    marks itself and then looks for the other, so the two never interleave. A mark that does not read
    refuses the nightly, not a hand command."""
    folder = storage.join(layout.output, MARKERS)
    for name in storage.list_dir(folder, layout.options):
        uri = storage.join(folder, name)
        if not name.startswith("prune-") or uri == own:
            continue
        try:
            mark = _live(layout, uri, stale_seconds)
        except LockHeld:
            continue
        if mark is not None:
            raise LockHeld(
                f"{layout.output} is being pruned (host {mark.host}, pid {mark.pid}, since "
                f"{mark.started_at}); `{command}` is refused rather than interleaved with it: run it again "
                "once the prune has ended"
            )


def _mark(layout: Layout, uri: str, mark: WriterMark) -> bool:
    """Write our mark; False when there is nothing to mark or it cannot be written.

    A local output that does not exist holds no run to protect, and marking it would create it (a command
    refused later must leave nothing behind). A store that cannot take the mark now (a full disk) gets no
    mark: the command goes on and reports the store's problem (one line) where it meets it. One that
    refuses every write (read-only, permission denied) stops the command here, before it writes anything.
    """
    if storage.is_local(layout.output) and not storage.exists(layout.output):
        return False
    try:
        storage.write_json_atomic(uri, mark.to_json(), layout.options)
    except Refused as exc:
        why = str(exc).removeprefix(f"{uri}: ")
        raise Refused(f"{layout.output}: cannot be written ({why}); `{mark.command}` wrote nothing") from None
    except LenetError as exc:  # said once, by the command, when it meets the same store
        log.debug("could not mark this %s as writing: %s", mark.command, exc)
        _remove(layout, uri)  # the folder made for it, if that is all the write left
        return False
    return True


def _parse(raw: bytes) -> tuple[WriterMark | None, dt.datetime | None, str]:
    """The mark and its start as an aware time; (None, None, why) when the file is not a mark."""
    try:
        mark = WriterMark.from_json(json.loads(raw), "mark")
    except RecursionError:
        return None, None, "nested too deeply"
    except RecordError as exc:
        return None, None, str(exc)
    except ValueError:
        return None, None, "empty" if not raw.strip() else "not valid JSON"
    started = parse_utc(mark.started_at)
    if started is None:
        return None, None, f"started_at {mark.started_at[:40]!r} is not an ISO-8601 time"
    return mark, started, ""


def _unreadable(layout: Layout, uri: str, problem: str, fixable: bool, stale_seconds: int) -> LockHeld:
    """The refusal of a nightly by something in _writers/ that does not read as a mark."""
    later = f" (it stops counting once it is {stale_seconds} s old)" if fixable else ""
    return LockHeld(
        f"{uri} is not a readable writer mark ({problem}); a hand command may be writing {layout.output}, so "
        f"the nightly is refused: if none is, delete {uri} and start again{later}"
    )


def _live(layout: Layout, uri: str, stale_seconds: int) -> WriterMark | None:
    """The mark at `uri` if its hand command may still be writing; LockHeld when it does not read as one."""
    found = found_files.find(uri, layout.options)
    if found is None:  # removed since the listing: its command ended
        return None
    if found.raw is None:
        raise _unreadable(layout, uri, found.problem, False, stale_seconds)
    mark, started, problem = _parse(found.raw)
    since = started or found.modified
    lead = found_files.ahead(since)
    if lead:
        log.warning(
            "%s counts as stale: its start lies %s ahead of this host's clock (check the clocks of this host "
            "and of host %s); delete it if no hand command is running",
            uri, lead, mark.host if mark else "?",
        )  # fmt: skip
        return None
    if found_files.age_seconds(since) > stale_seconds:
        return None
    if mark is None:
        raise _unreadable(layout, uri, problem, True, stale_seconds)
    return None if writers.certainly_gone(mark, same_boot=not storage.is_local(uri)) else mark


def _require_folder(layout: Layout, folder: str) -> None:
    """A local _writers that is not a folder (a file, a FIFO, a symlink loop) holds no marks, and no hand
    command can mark itself there: refuse the nightly (LockHeld) naming it."""
    if not storage.is_local(folder):
        return  # an object store has no such things: a key named like the folder is not in its way
    path = storage.get_fs(folder, layout.options)[1]
    if os.path.lexists(path) and not os.path.isdir(path):
        raise LockHeld(
            f"{folder} is not a folder; hand commands mark themselves in it, so the nightly is refused: "
            f"delete {folder} and start again"
        )


def live_marks(layout: Layout, stale_seconds: int) -> list[WriterMark]:
    """The marks of hand commands that may still be writing: not certainly gone, not older than stale."""
    folder = storage.join(layout.output, MARKERS)
    _require_folder(layout, folder)
    names = [n for n in storage.list_dir(folder, layout.options) if n.endswith(".json")]
    marks = [_live(layout, storage.join(folder, name), stale_seconds) for name in names]
    return [mark for mark in marks if mark is not None]


def refuse_if_hand_writers(layout: Layout, run_id: str, stale_seconds: int) -> None:
    """Refuse (LockHeld) the nightly of run_id, which holds the lock, while a hand command writes that run
    or the history (which every nightly rewrites)."""
    for mark in live_marks(layout, stale_seconds):
        if mark.run_id in (None, run_id):
            what = f"run {run_id}" if mark.run_id else f"{layout.output}'s history"
            raise LockHeld(
                f"{what} is being written by a hand `{mark.command}` (host {mark.host}, pid {mark.pid}, "
                f"since {mark.started_at}); the nightly is refused rather than interleaved with it: run it "
                "again once that command has ended"
            )
