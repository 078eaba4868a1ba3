"""A run's state, read once: run.json, each seed's records, its partition markers and summary.json.

A command that works on a run reads its state here once, plans from it (pipeline/plan.py) and hands it on;
the stages say what they wrote and the run's owner (pipeline/owner.py) keeps the state up to date in
memory. Listings (`runs`, `check`, `history`, the baseline search) read many runs' light states: run.json
and summary.json only. Either way, a record that does not read is not the command's error but the run's
damage (`problems`, one line each, naming the file and why), so that every command sees a night the same.
"""

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from lenet_batch.errors import DataError
from lenet_batch.json_records import JsonRecord, decode
from lenet_batch.records import Attempt
from lenet_batch.state.damage import checked_summary, parse_record
from lenet_batch.state.manifest import Manifest
from lenet_batch.store import record_reads, storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.record_reads import Read
from lenet_batch.store.run_record import RunRecord
from lenet_batch.store.seed_records import CheckpointPointer, Marker, SeedMetrics
from lenet_batch.summary.types import RunSummary

log = logging.getLogger(__name__)

SEED_FOLDER = re.compile(r"seed=(\d+)")


@dataclass(frozen=True)
class SeedState:
    """One seed's records as read: metrics.json once finished, its checkpoint's pointer, its attempts and
    the commit marker of its evaluation partition; `problems` names a finished seed's damaged record."""

    seed: int
    metrics: SeedMetrics | None = None
    checkpoint: CheckpointPointer | None = None
    attempts: tuple[Attempt, ...] = ()
    marker: Marker | None = None
    problems: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        """Its training is complete (metrics.json, written last, reads)."""
        return self.metrics is not None

    @property
    def epoch(self) -> int:
        """Epochs done: all of them once finished, else the checkpoint's (0: none)."""
        if self.metrics is not None:
            return len(self.metrics.epochs)
        return self.checkpoint.epoch if self.checkpoint is not None else 0

    def manifest(self) -> Manifest | None:
        """The recipe and data its files recorded (None: nothing, or an older checkpoint without them)."""
        if self.metrics is not None:
            return Manifest(recipe=self.metrics.recipe, data=self.metrics.data)
        if self.checkpoint is not None and self.checkpoint.recipe is not None:
            return Manifest(recipe=self.checkpoint.recipe, data=self.checkpoint.data)
        return None


@dataclass(frozen=True)
class RunState:
    """A run as its records say: run.json, summary.json, each seed's records (None: a listing did not read
    them), and what is damaged."""

    run: RunRef
    record: RunRecord | None = None
    summary: RunSummary | None = None
    seeds: Mapping[int, SeedState] | None = None
    problems: tuple[str, ...] = ()
    stamp: str | None = None  # run.json's size and time when it was read (None: absent, or a listing)
    record_problem: str | None = None  # why run.json does not read (None: it reads, or is absent)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def exists(self) -> bool:
        """Something of the run was written (run.json, or a seed's files)."""
        return self.record is not None or bool(self.seeds)

    def manifest(self) -> Manifest:
        """What run.json recorded: recipe, data, seeds, versions, commit and the driver's ISA class."""
        r = self.record
        if r is None:
            return Manifest()
        isa = r.machine.isa_class if r.machine else None
        return Manifest(r.recipe, r.data, r.seeds or (), r.versions, r.git, isa)

    def stage_status(self, stage: str) -> str | None:
        """A stage's status in run.json (None: not run, or no run.json)."""
        return self.record.stage_status(stage) if self.record is not None else None

    def seed(self, seed: int) -> SeedState:
        """A seed's state (an empty one when it has no files)."""
        return (self.seeds or {}).get(seed) or SeedState(seed)

    def finished_seeds(self) -> list[int]:
        """Seeds whose training is complete, in order."""
        return sorted(s for s, state in (self.seeds or {}).items() if state.finished)

    def with_record(self, record: RunRecord) -> "RunState":
        return replace(self, record=record)

    def with_seeds(self, *seeds: SeedState) -> "RunState":
        return replace(self, seeds={**(self.seeds or {}), **{s.seed: s for s in seeds}})

    def with_summary(self, summary: RunSummary) -> "RunState":
        return replace(self, summary=summary)


def light_state(run: RunRef, record: Read, summary: Read, problems: tuple[str, ...] = ()) -> RunState:
    """A run from its run.json and summary.json as read (bytes, or why not): what listings see."""
    parsed, bad_record = parse_record(run.run_json, run.run_id, record)
    checked, bad_summary = checked_summary(run.summary_json, run.run_id, summary)
    found = tuple(record_reads.printable(p) for p in (bad_record, bad_summary) if p)
    return RunState(run, parsed, checked, None, problems + found, record_problem=bad_record)


def stamp(run: RunRef) -> str | None:
    """run.json's size and modification time (its ETag on object stores), None when absent: tells a state
    read before the lock whether another command wrote the run since, without reading it again."""
    fs, path = storage.get_fs(run.run_json, run.options)
    with storage.storage_errors(run.run_json):
        try:
            fs.invalidate_cache(path)
            info = fs.info(path)
        except FileNotFoundError:
            return None
    when = info.get("mtime") or info.get("LastModified") or info.get("created")
    return f"{info.get('size')}:{info.get('ETag') or when}"


def read_state(run: RunRef, input_name: str | None = None) -> RunState:
    """The run's whole state: run.json, summary.json and every seed folder's records, each read once
    (concurrently on object stores); the seeds' markers are those of a named --input when given."""
    stamped = stamp(run)
    seeds = _seed_folders(run)
    uris = [
        run.run_json,
        run.summary_json,
        *(u for s in seeds for u in _seed_uris(run, s, input_name).values()),
    ]
    reads = record_reads.read_small_many(uris, run.options)
    state = light_state(run, reads[run.run_json], reads[run.summary_json])
    seed_states = {s: _seed_state(s, _seed_uris(run, s, input_name), reads) for s in seeds}
    return replace(state, seeds=seed_states, stamp=stamped)


def _seed_folders(run: RunRef) -> list[int]:
    """Seeds that have a folder in the run, finished or not (locally, a file in a seed folder's place is not
    one: its seed has nothing recorded, and fails on its own when it is trained)."""
    if not storage.exists(run.seeds_dir, run.options):
        return []
    names = storage.list_dir(run.seeds_dir, run.options)
    local = storage.is_local(run.seeds_dir)
    found = [(n, m) for n in names if (m := SEED_FOLDER.fullmatch(n))]
    return sorted(
        int(m.group(1)) for n, m in found if not local or _is_folder(storage.join(run.seeds_dir, n))
    )


def _is_folder(uri: str) -> bool:
    return os.path.isdir(storage.get_fs(uri)[1])


def _seed_uris(run: RunRef, seed: int, input_name: str | None) -> dict[str, str]:
    return {
        "metrics": run.metrics_json(seed),
        "checkpoint": storage.join(run.checkpoint_dir(seed), "latest.json"),
        "attempts": run.attempts_json(seed),
        "marker": run.marker_json(seed, input_name),
    }


def _seed_state(seed: int, uris: dict[str, str], reads: dict[str, Read]) -> SeedState:
    """A seed's records; a damaged metrics.json is its problem, other damaged records count as absent."""
    metrics, problem = _typed(uris["metrics"], reads, SeedMetrics, complete_only=True)
    checkpoint, _ = _typed(uris["checkpoint"], reads, CheckpointPointer)
    marker, _ = _typed(uris["marker"], reads, Marker)
    return SeedState(seed, metrics, checkpoint, _attempts(uris["attempts"], reads), marker, problem)


def _typed(
    uri: str, reads: dict[str, Read], kind: type[JsonRecord], complete_only: bool = False
) -> tuple[JsonRecord | None, tuple[str, ...]]:
    """A record of `kind`, or None and the problem that counts (a finished seed's metrics.json only: any
    other damaged record is logged and read as absent, and made again)."""
    doc, problem = record_reads.parse_object(uri, reads[uri])
    if doc is not None and complete_only and doc.get("status") != "complete":
        return None, ()  # written by an older version before it finished: not complete
    if doc is not None:
        try:
            return kind.from_json(doc, uri), ()
        except DataError as exc:
            problem = str(exc)
    if problem and complete_only:
        return None, (problem,)  # a finished seed's record: the command refuses, naming it
    if problem:
        log.warning("ignoring %s (made again)", problem)
    return None, ()


def _attempts(uri: str, reads: dict[str, Read]) -> tuple[Attempt, ...]:
    """attempts.json (informative only: an unreadable one counts as none)."""
    raw, problem = reads[uri]
    if raw is None:
        return ()
    try:
        return decode(tuple[Attempt, ...], json.loads(raw), uri)
    except (ValueError, DataError) as exc:
        log.warning("ignoring %s: %s", uri, exc)
        return ()


def empty_state(run: RunRef) -> RunState:
    """A run with nothing written yet."""
    return RunState(run, seeds={})
