"""`lenet-batch prune`: remove the predictions, models and logs of the nights older than --keep, keep their
records, and rewrite the history (what goes and what never does: pipeline/prune_plan.py; the files:
pipeline/prune_files.py).

The prune marks itself as a hand command on the history (store/hand_writers.py) rather than taking the
output's lock: the lock says "a night is being made" to `check` and the metrics file (a prune holding it
would read as a running night), and a prune is what the marks exist for, a hand command writing what a
nightly writes (the history) and other nights than tonight's. So it is refused (exit 5) while a live
nightly holds the lock, a hand `history` runs or another prune does; a nightly, a hand command or a second
prune that starts meanwhile sees its mark and is refused in turn; nights a hand command is writing when it
looks are left alone.

A night is pruned whole or not at all, as readers see it: its pruning is recorded in run.json (by its owner)
before the first file goes, and marked finished after the last; a prune stopped in between leaves the
pruning recorded, and the next prune finishes it. --dry-run takes no mark and writes nothing.
"""

import datetime as dt
import logging
from dataclasses import dataclass, replace

from lenet_batch.errors import DataError, LockHeld
from lenet_batch.json_records import JsonRecord
from lenet_batch.pipeline import prune_files
from lenet_batch.pipeline.owner import RunOwner
from lenet_batch.pipeline.prune_plan import Keep, NightPrune, decide, parse_keep
from lenet_batch.provenance import now_utc, who
from lenet_batch.state import listing
from lenet_batch.state.run_state import RunState
from lenet_batch.store import hand_writers, lock, storage
from lenet_batch.store.layout import Layout
from lenet_batch.store.run_record import Pruning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneResult(JsonRecord):
    """What a prune did (or, --dry-run, would do): each night's fate, newest first, and the totals."""

    output: str
    keep: str
    dry_run: bool
    nights: tuple[NightPrune, ...]
    pruned: int  # nights whose files went (or would go)
    bytes: int  # what went (or would go)
    history: str | None = None  # history.html, rewritten after the pruning
    lock: str | None = None  # a dry run: the live nightly that would refuse the prune (exit 5) now


def _guarded(layout: Layout, stale_seconds: int, refuse_history: bool) -> tuple[dict[str, str], str | None]:
    """The nights a live nightly or hand command is writing, each with who; and the live lock's line.
    `refuse_history`: LockHeld (exit 5) when a hand command is rebuilding the history."""
    guarded, said = {}, None
    held = lock.holder(layout, stale_seconds)
    if held is not None and not held.stale:
        said = f"{layout.lock()} is held by run {held.run_id} (host {held.host}, pid {held.pid})"
        said = f"{layout.lock()} does not read as a lock ({held.problem})" if held.problem else said
        said = f"{said}: prune is refused (exit 5) until it is released"
        if held.run_id is not None:
            guarded[held.run_id] = f"a nightly is writing it (host {held.host}, pid {held.pid})"
    for mark in hand_writers.live_marks(layout, stale_seconds):
        writer = f"a hand `{mark.command}` (host {mark.host}, pid {mark.pid}, since {mark.started_at})"
        if mark.command == "prune":
            continue  # ours, or one that will see ours and stop
        if mark.run_id is not None:
            guarded[mark.run_id] = f"{writer} is writing it"
        elif refuse_history:
            raise LockHeld(
                f"{layout.output}'s history is being written by {writer}; `prune` is refused rather than "
                "interleaved with it: run it again once that command has ended"
            )
    return guarded, said


def _looked(
    nights: list[RunState], keep: Keep, guarded: dict[str, str], window: int, now: dt.datetime
) -> tuple[list[NightPrune], dict[str, prune_files.Doomed]]:
    """Each night's fate, with what goes of those that go (files, bytes, where) as it is now."""
    fates = list(decide(nights, keep, now, guarded, window))
    inputs = prune_files.scored_inputs(nights[0].run.layout) if any(f.goes for f in fates) else []
    doomed = {}
    for i, fate in enumerate(fates):
        if fate.goes:
            doomed[fate.run_id] = found = prune_files.doomed(nights[i].run, inputs)
            fates[i] = replace(fate, files=found.files, bytes=found.bytes, paths=tuple(found.found))
    return fates, doomed


def _prune_night(state: RunState, doomed: prune_files.Doomed, keep: Keep) -> RunState:
    """Record the night's pruning, remove its files, record it finished; the night as its owner holds it."""
    owner = RunOwner(state)
    recorded = state.record.pruning if state.record else None
    pruning = recorded or Pruning(keep=keep.text, by=who(), started_at=now_utc(), bytes=doomed.bytes)
    if recorded is None:
        owner.pruned(pruning)  # before the first file goes: from here on the next prune finishes it
    prune_files.remove(state.run, doomed)
    owner.pruned(replace(pruning, finished_at=now_utc()))
    log.info("run %s: pruned %d file(s), %d bytes", state.run_id, doomed.files, doomed.bytes)
    return owner.state


def _history(layout: Layout, nights: list[RunState]) -> str:
    """Rewrite the history from the nights as held (none read again); history.html's URI."""
    from lenet_batch.history.stage import build_history  # pyarrow and figures: only once something went

    newest = nights[0]
    others = listing.Nights(layout, skip=newest.run_id, states=nights[1:])
    return build_history(layout, tonight=newest, others=others).history_html


def _result(
    layout: Layout, keep: Keep, fates: list[NightPrune], dry_run: bool, **more: str | None
) -> PruneResult:
    """The prune's document: every night's fate and what went (or would go) in all."""
    going = [f for f in fates if f.goes]
    total = sum(f.bytes or 0 for f in going)
    return PruneResult(layout.output, keep.text, dry_run, tuple(fates), len(going), total, **more)


def prune(
    layout: Layout,
    keep: str,
    *,
    dry_run: bool = False,
    stale_seconds: int = 6 * 3600,
    window: int = 7,
    now: dt.datetime | None = None,
) -> PruneResult:
    """Prune the nights older than `keep` (90d or N); `window`: the reference window, whose reference
    night stays. ConfigError (exit 2) for a bad --keep, DataError (2) for an output that does not exist,
    LockHeld (5) while a nightly, a hand `history` or another prune runs."""
    kept, now = parse_keep(keep), now or dt.datetime.now(dt.UTC)
    if not storage.exists(layout.output, layout.options):
        raise DataError(f"--output {layout.output}: not found (no runs have been written there)")
    if dry_run:  # no mark, nothing written: the nightly's lock is said, not waited for
        guarded, said = _guarded(layout, stale_seconds, refuse_history=False)
        nights = listing.read_nights(layout, warn=False)
        return _result(layout, kept, _looked(nights, kept, guarded, window, now)[0], True, lock=said)
    with hand_writers.hand_writer(layout, "prune", None, stale_seconds):
        guarded, _ = _guarded(layout, stale_seconds, refuse_history=True)
        nights = listing.read_nights(layout, warn=False)  # after the marks: no hand command writes them now
        fates, doomed = _looked(nights, kept, guarded, window, now)
        nights = [_prune_night(n, doomed[n.run_id], kept) if n.run_id in doomed else n for n in nights]
        history = _history(layout, nights) if doomed else None
    return _result(layout, kept, fates, False, history=history)
