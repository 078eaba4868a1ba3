"""A run's provenance for its report and summary.json: recipe, seeds, data, versions, commit, stage times,
hosts and attempts (pure: read from run.json, the per-seed rows and each seed's metrics.json)."""

from collections import Counter
from collections.abc import Sequence

from lenet_batch.records import Attempt, DataInfo, hosts_of
from lenet_batch.state.manifest import seed_ranges
from lenet_batch.store.run_record import RunRecord
from lenet_batch.store.seed_records import SeedMetrics
from lenet_batch.summary.types import (
    RunMetadata,
    SeedAttempts,
    SeedRow,
    StageTime,
    VersionRow,
)

STAGE_ORDER = ("train", "infer")  # then any other recorded stage, and this summary last


def _recipe(record: RunRecord, metrics: dict[int, SeedMetrics | None]) -> dict[str, int | float | str]:
    """The recipe the seeds were trained with (their metrics.json: a run keeps one), else run.json's."""
    recipes = {m.recipe for m in metrics.values() if m is not None}
    if len(recipes) == 1:
        return next(iter(recipes)).to_json()
    asked = record.recipe.to_json() if record.recipe else {}
    return {**asked, "note": f"{len(recipes)} different recipes among the seeds"} if recipes else asked


def _versions(record: RunRecord, metrics: dict[int, SeedMetrics | None]) -> tuple[VersionRow, ...]:
    """Per package: the driver's version (run.json) and the versions the seeds' workers recorded."""
    driver = record.versions
    seen: dict[str, Counter] = {}
    for m in metrics.values():
        for name, version in ((m.versions if m is not None else None) or {}).items():
            seen.setdefault(name, Counter())[str(version)] += 1
    return tuple(
        VersionRow(name, driver.get(name), dict(seen.get(name, Counter())))
        for name in dict.fromkeys([*driver, *seen])
    )


def _stage_times(record: RunRecord, summary_stage: StageTime) -> tuple[StageTime, ...]:
    """Each recorded stage's status, start, end and wall seconds; this summary last (as of the report)."""
    stages = {k: v for k, v in record.stages.items() if k != "summary"}
    order = sorted(stages, key=lambda k: (STAGE_ORDER.index(k) if k in STAGE_ORDER else len(STAGE_ORDER), k))
    rows = [
        StageTime(
            name, stages[name].status, stages[name].started_at, stages[name].finished_at, stages[name].seconds
        )
        for name in order
    ]
    return (*rows, summary_stage)


def _failed_rows(failed: dict[int, tuple[Attempt, ...]]) -> tuple[SeedAttempts, ...]:
    """Seeds without predictions: their attempts and hosts from attempts.json."""
    return tuple(
        SeedAttempts(seed, len(attempts) or None, hosts_of(attempts))
        for seed, attempts in sorted(failed.items())
    )


def run_metadata(
    record: RunRecord,
    per_seed: Sequence[SeedRow],
    metrics: dict[int, SeedMetrics | None],
    failed_attempts: dict[int, tuple[Attempt, ...]],
    summary_stage: StageTime,
) -> RunMetadata:
    """Everything the report's run metadata section shows, from run.json and the seeds' records."""
    failed = _failed_rows(failed_attempts)
    hosts = Counter(h for r in [*per_seed, *failed] for h in (r.hosts or "unknown").split(", "))
    infer = record.stages.get("infer")
    return RunMetadata(
        recipe=_recipe(record, metrics),
        seeds=seed_ranges([r.seed for r in per_seed]),
        data=record.data or DataInfo(),
        input=infer.input if infer else None,
        versions=_versions(record, metrics),
        git=record.git,
        created_at=record.created_at,
        stages=_stage_times(record, summary_stage),
        hosts=dict(hosts.most_common()),
        retried_seeds=tuple(sorted(r.seed for r in per_seed if (r.attempts or 0) > 1)),
        failed_seed_attempts=failed,
        machine=record.machine,
    )
