"""runs/<run_id>/run.json: the run's config, versions, git commit, data digests and each stage's status."""

import time
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from lenet_batch.config import Recipe, parse_seeds
from lenet_batch.errors import ConfigError, DataError
from lenet_batch.json_records import JsonRecord
from lenet_batch.provenance import Machine, git_commit, machine, now_utc, versions
from lenet_batch.records import DataInfo, GitCommit
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef

SEEDS_TEXT_LIMIT = 1000  # characters of a recorded seeds spec ("0-7", "0-3,8"): longer ones are not read


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
    reason: str | None = None  # a stage that failed or was stopped: why, in one line
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
class Acceptance(JsonRecord):
    """A night accepted by hand (`lenet-batch accept`) as the new baseline and reference: a deliberate
    change (a new recipe, new data), why, who (user@host) and when."""

    reason: str
    by: str
    at: str

    def text(self) -> str:
        """In words: "accepted by ann@host (2026-12-04T09:12:00Z): 'faster schedule'"."""
        return f"accepted by {self.by} ({self.at}): '{self.reason}'"


@dataclass(frozen=True)
class Pruning(JsonRecord):
    """A night whose predictions, models and logs `lenet-batch prune` removed (its records stay): by whom,
    under which --keep, how many bytes; recorded before the first file goes, `finished_at` once the last
    one has (a pruning without it was stopped halfway: the next prune finishes it)."""

    keep: str
    by: str
    started_at: str
    bytes: int | None = None  # what it found to remove
    finished_at: str | None = None


@dataclass(frozen=True)
class RunRecord(JsonRecord):
    """runs/<run_id>/run.json: the settings as given (secrets masked), the recipe, seeds and data the run
    recorded, versions, commit, machine and each stage's entry."""

    run_id: str
    config: dict[str, Any] = field(default_factory=dict)  # the settings, as config.public_record() gives
    recipe: Recipe | None = None  # what its seeds are trained with (older run.json: from config, on read)
    seeds: tuple[int, ...] | None = None  # the seeds asked for (None: not recorded)
    versions: dict[str, str | None] = field(default_factory=dict)
    machine: Machine | None = None  # the driver's host (runs before it did not record one)
    git: GitCommit | None = None
    data: DataInfo | None = None
    created_at: str | None = None
    updated_at: str | None = None
    stages: dict[str, StageEntry] = field(default_factory=dict)
    acceptance: Acceptance | None = None  # accepted by hand as the new baseline and reference
    pruning: Pruning | None = None  # its predictions, models and logs removed (pipeline/prune.py)
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept

    @classmethod
    def from_json(cls, doc: Any, where: str = "run.json") -> "RunRecord":
        """run.json of any version: one written before `recipe` and `seeds` were recorded has them read
        from its settings, once, here."""
        record = super().from_json(doc, where)
        if record.recipe is None and "recipe" not in doc:
            record = replace(record, recipe=_legacy_recipe(record.config))
        if record.seeds is None and "seeds" not in doc:
            record = replace(record, seeds=_legacy_seeds(record.config))
        return record

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

    def with_stage(self, stage: str, entry: StageEntry) -> "RunRecord":
        """The record with one stage's entry set (updated now)."""
        return replace(self, stages={**self.stages, stage: entry}, updated_at=now_utc())


def _legacy_recipe(config: dict[str, Any]) -> Recipe | None:
    """The recipe an older run.json asked for in its settings (None when they do not hold one)."""
    known = {k: config[k] for k in ("epochs", "batch_size", "lr") if k in config}
    try:
        return Recipe.from_json(known, "run.json config") if known else None
    except DataError:
        return None


def _legacy_seeds(config: dict[str, Any]) -> tuple[int, ...] | None:
    """The seeds an older run.json asked for in its settings (None when they do not parse)."""
    spec = config.get("seeds")
    if not isinstance(spec, str | int) or len(str(spec)) > SEEDS_TEXT_LIMIT:
        return None
    try:
        return tuple(parse_seeds(str(spec)))
    except ConfigError:
        return None


def started(
    before: RunRecord | None,
    run_id: str,
    *,
    config: dict[str, Any],
    recipe: Recipe,
    seeds: tuple[int, ...],
    data: DataInfo | None,
) -> RunRecord:
    """The record of a run whose training starts now: settings (already redacted), recipe, seeds, versions,
    commit and machine; the data when known, and the stages as they were."""
    record = before or RunRecord(run_id)
    commit = git_commit()  # None when not run from a checkout (a wheel, a Ray Jobs working_dir)
    recorded = sorted(set(record.seeds or ()) | set(seeds))
    return replace(
        record,
        run_id=run_id,
        config=config,
        recipe=recipe,
        seeds=tuple(recorded),
        versions=versions(),
        machine=machine(),  # the driver's host; each seed's metrics.json has its worker's
        git=GitCommit.from_json(commit) if commit else None,
        data=data if data is not None else record.data,
        created_at=record.created_at or now_utc(),
        updated_at=now_utc(),
    )


def write_record(run: RunRef, record: RunRecord) -> None:
    """run.json, atomically: its one writer (the run's owner, pipeline/owner.py, holds it in memory)."""
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

    def entry(self, rows: list[SeedEntry] | None, status: str | None = None, **summary: Any) -> StageEntry:
        """The stage's entry as it ends now: status (from its rows unless given), rows, start and seconds.

        `summary` holds the StageEntry fields only some stages fill (input, mean_accuracy, verdict, ...)."""
        return StageEntry(
            status=status or status_of_rows(rows or []),
            started_at=self.started_at,
            seconds=self.seconds(),
            finished_at=now_utc(),
            seeds=tuple(rows) if rows is not None else None,
            **summary,
        )
