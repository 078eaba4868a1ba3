"""A run's provenance for its report and summary.json: recipe, seeds, data, versions, commit, stage times,
hosts and attempts (pure: read from run.json, the per-seed rows and each seed's metrics.json)."""

from collections import Counter
from collections.abc import Sequence
from typing import Any

from lenet_batch.store.seed_records import SeedMetrics
from lenet_batch.summary.statistics import seed_hosts
from lenet_batch.summary.types import (
    DataRecord,
    GitCommit,
    RunMetadata,
    SeedAttempts,
    SeedRow,
    StageTime,
    VersionRow,
)

STAGE_ORDER = ("train", "infer")  # then any other recorded stage, and this summary last


def seed_ranges(seeds: Sequence[int]) -> str:
    """Seeds as compact ranges: [0, 1, 2, 3, 7, 9, 10] -> '0-3,7,9-10'."""
    parts: list[str] = []
    ordered = sorted(set(seeds))
    start = prev = None
    for s in [*ordered, None]:
        if s is not None and prev is not None and s == prev + 1:
            prev = s
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = s
    return ",".join(parts)


def _recipe(record: dict[str, Any], metrics: dict[int, SeedMetrics | None]) -> dict[str, int | float | str]:
    """The recipe the seeds were trained with (from their metrics.json), else the one run.json asked for."""
    recipes = {
        repr(sorted(m.recipe.items())): m.recipe for m in metrics.values() if m is not None and m.recipe
    }
    if len(recipes) == 1:
        return dict(next(iter(recipes.values())))
    config = record.get("config") or {}
    asked = {k: config[k] for k in ("epochs", "batch_size", "lr") if k in config}
    return {**asked, "note": f"{len(recipes)} different recipes among the seeds"} if recipes else asked


def _versions(record: dict[str, Any], metrics: dict[int, SeedMetrics | None]) -> tuple[VersionRow, ...]:
    """Per package: the driver's version (run.json) and the versions the seeds' workers recorded."""
    driver = record.get("versions") or {}
    seen: dict[str, Counter] = {}
    for m in metrics.values():
        for name, version in ((m.versions if m is not None else None) or {}).items():
            seen.setdefault(name, Counter())[str(version)] += 1
    return tuple(
        VersionRow(name, _text(driver.get(name)), dict(seen.get(name, Counter())))
        for name in dict.fromkeys([*driver, *seen])
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _stages(record: dict[str, Any], summary_stage: StageTime) -> tuple[StageTime, ...]:
    """Each recorded stage's status, start, end and wall seconds; this summary last (as of the report)."""
    stages = {k: v for k, v in (record.get("stages") or {}).items() if k != "summary" and isinstance(v, dict)}
    order = sorted(stages, key=lambda k: (STAGE_ORDER.index(k) if k in STAGE_ORDER else len(STAGE_ORDER), k))
    rows = [StageTime.from_json({"stage": name, **stages[name]}, f"run.json stage {name}") for name in order]
    return (*rows, summary_stage)


def _failed_rows(failed: dict[int, list[dict]]) -> tuple[SeedAttempts, ...]:
    """Seeds without predictions: their attempts and hosts from attempts.json."""
    return tuple(
        SeedAttempts(seed, len(attempts) or None, seed_hosts(attempts))
        for seed, attempts in sorted(failed.items())
    )


def run_metadata(
    record: dict[str, Any],
    per_seed: Sequence[SeedRow],
    metrics: dict[int, SeedMetrics | None],
    failed_attempts: dict[int, list[dict]],
    summary_stage: StageTime,
) -> RunMetadata:
    """Everything the report's run metadata section shows, from run.json and the seeds' records."""
    failed = _failed_rows(failed_attempts)
    hosts = Counter(h for r in [*per_seed, *failed] for h in (r.hosts or "unknown").split(", "))
    infer = (record.get("stages") or {}).get("infer") or {}
    git = record.get("git")
    return RunMetadata(
        recipe=_recipe(record, metrics),
        seeds=seed_ranges([r.seed for r in per_seed]),
        data=DataRecord.from_json(record.get("data") or {}, "run.json data"),
        input=infer.get("input"),
        versions=_versions(record, metrics),
        git=GitCommit.from_json(git, "run.json git") if isinstance(git, dict) else None,
        created_at=record.get("created_at"),
        stages=_stages(record, summary_stage),
        hosts=dict(hosts.most_common()),
        retried_seeds=tuple(sorted(r.seed for r in per_seed if (r.attempts or 0) > 1)),
        failed_seed_attempts=failed,
    )
