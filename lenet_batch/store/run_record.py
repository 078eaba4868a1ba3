"""runs/<run_id>/run.json: the run's config, versions, git commit, data digests and each stage's status."""

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from lenet_batch.errors import LenetError
from lenet_batch.json_records import JsonRecord
from lenet_batch.provenance import Machine, git_commit, machine, now_utc, versions
from lenet_batch.records import DataInfo, GitCommit
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedEntry(JsonRecord):
    """A seed's row in a stage of run.json (training, scoring or summary fields; the others left out)."""

    JSON_OMIT_NONE: ClassVar[bool] = True

    seed: int
    status: str | None = None  # trained, resumed, skipped, scored or failed
    test_accuracy: float | None = None
    train_seconds: float | None = None
    attempts: int | None = None
    rows: int | None = None
    accuracy: float | None = None
    seconds: float | None = None
    hosts: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class StageEntry(JsonRecord):
    """One stage of a run: its status, when it ran, its seeds, and what the summary found."""

    JSON_OMIT_NONE: ClassVar[bool] = True

    status: str
    started_at: str | None = None
    seconds: float | None = None
    finished_at: str | None = None
    seeds: tuple[SeedEntry, ...] | None = None
    input: str | None = None  # infer: what was scored
    mean_accuracy: float | None = None  # summary: the verdict in brief
    ensemble_accuracy: float | None = None
    baseline_run_id: str | None = None
    regressed: bool | None = None
    verdict: str | None = None
    report_html: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept

    def to_json(self) -> dict[str, Any]:
        doc = super().to_json()
        if self.verdict is not None:  # the summary's entry names its baseline, null when there is none
            doc["baseline_run_id"] = self.baseline_run_id
        return doc


@dataclass(frozen=True)
class RunRecord(JsonRecord):
    """runs/<run_id>/run.json: the settings as given (secrets masked), versions, commit, data and stages."""

    run_id: str
    config: dict[str, Any] = field(default_factory=dict)  # the settings, as config.public_record() gives
    versions: dict[str, str | None] = field(default_factory=dict)
    machine: Machine | None = None  # the driver's host (runs before it did not record one)
    git: GitCommit | None = None
    data: DataInfo | None = None
    created_at: str | None = None
    updated_at: str | None = None
    stages: dict[str, StageEntry] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept

    def stage_status(self, stage: str) -> str | None:
        """A stage's status (None when the stage has not run)."""
        entry = self.stages.get(stage)
        return entry.status if entry else None

    def stage_seeds(self, stage: str) -> tuple[SeedEntry, ...]:
        """A stage's per-seed rows."""
        entry = self.stages.get(stage)
        return (entry.seeds or ()) if entry else ()

    def failed_seeds(self) -> set[int]:
        """Seeds the train or infer stage marked failed."""
        rows = self.stage_seeds("train") + self.stage_seeds("infer")
        return {r.seed for r in rows if r.status == "failed"}


def read_run(run: RunRef) -> RunRecord:
    """The run record, or an empty one when the run has none yet; a damaged one is a DataError naming it."""
    if not storage.exists(run.run_json, run.options):
        return RunRecord(run.run_id)
    return RunRecord.from_json(storage.read_json(run.run_json, run.options), run.run_json)


def start(run: RunRef, config: dict[str, Any], data_info: DataInfo | None) -> None:
    """Record the (already redacted) settings, versions and data of a run; stages are left as they were."""
    record = read_run(run)
    commit = git_commit()  # None when not run from a checkout (a wheel, a Ray Jobs working_dir)
    record = replace(
        record,
        run_id=run.run_id,
        config=config,
        versions=versions(),
        machine=machine(),  # the driver's host; each seed's metrics.json has its worker's
        git=GitCommit.from_json(commit) if commit else None,
        data=data_info if data_info is not None else record.data,
        created_at=record.created_at or now_utc(),
        updated_at=now_utc(),
    )
    storage.write_json_atomic(run.run_json, record.to_json(), run.options)


def status_of_rows(rows: list[SeedEntry]) -> str:
    """A stage's status from its per-seed rows: 'complete' when every seed succeeded or was already done."""
    return "complete" if rows and all(r.status != "failed" for r in rows) else "failed"


@dataclass(frozen=True)
class StageClock:
    """When a stage started (UTC) and a monotonic reading to time it by."""

    started_at: str
    monotonic: float

    @classmethod
    def start(cls) -> "StageClock":
        """A clock started now."""
        return cls(now_utc(), time.monotonic())

    def seconds(self) -> float:
        """Wall seconds since the clock started, as a stage entry records them."""
        return round(time.monotonic() - self.monotonic, 3)


def update_stage(
    run: RunRef,
    stage: str,
    rows: list[SeedEntry] | None,
    status: str | None = None,
    clock: StageClock | None = None,
    **summary: Any,
) -> StageEntry:
    """Set one stage's entry (status, per-seed rows, start and wall seconds) in run.json; returns it.

    `summary` holds the StageEntry fields only some stages fill (input, mean_accuracy, verdict, ...).
    """
    record = read_run(run)
    entry = StageEntry(
        status=status or status_of_rows(rows or []),
        started_at=clock.started_at if clock else None,
        seconds=clock.seconds() if clock else None,
        finished_at=now_utc(),
        seeds=tuple(rows) if rows is not None else None,
        **summary,
    )
    record = replace(record, stages={**record.stages, stage: entry}, updated_at=now_utc())
    storage.write_json_atomic(run.run_json, record.to_json(), run.options)
    return entry


@contextlib.contextmanager
def marks_interruption(run: RunRef, stage: str) -> Iterator[None]:
    """Record the stage as 'interrupted' in run.json when the job is stopped inside the block.

    The CLI turns SIGTERM into KeyboardInterrupt (what Ray's blocking calls let through), as Ctrl-C is.
    """
    try:
        yield
    except KeyboardInterrupt:
        try:
            if storage.exists(run.run_json, run.options):  # not recorded yet: nothing to mark
                update_stage(run, stage, None, status="interrupted")
        except LenetError as exc:  # the stop must not wait on, or fail for, the record
            log.warning("could not mark stage %s interrupted in %s: %s", stage, run.run_json, exc)
        raise
