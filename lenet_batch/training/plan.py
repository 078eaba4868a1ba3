"""What to do with each seed of a run: train it, resume it from its checkpoint, or skip it (pure logic).

A seed is reused (skipped or resumed) only when what its files record (the recipe, the data digests and
whether the data was verified) equals what is asked for; otherwise the whole run is refused with one line
that names each differing key and its two values. The driver plans before it starts a cluster (and for
`--dry-run`); each Ray task plans its own seed again with the same function, from the files as they are
when it starts (a retried task resumes from a later checkpoint than the driver saw).
"""

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lenet_batch.config import Recipe
from lenet_batch.errors import ConfigError
from lenet_batch.records import DataInfo

TRAIN, RESUME, SKIP = "train", "resume", "skip"
DATA_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class SeedState:
    """What a run's folder records about one seed: a finished model, a checkpoint, or nothing."""

    seed: int
    finished: bool = False
    epoch: int = 0  # epochs done: all of them when finished, else the checkpoint's
    recipe: dict[str, int | float] | None = None  # None: nothing recorded (no files, older checkpoint)
    data: DataInfo | None = None
    test_accuracy: float | None = None
    train_seconds: float | None = None
    attempts: int | None = None


@dataclass(frozen=True)
class SeedPlan:
    """One seed's action: train from epoch 1, resume from a later epoch, or skip (from_epoch None)."""

    seed: int
    action: str
    from_epoch: int | None
    reason: str

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Comparable = int | float | str | bool


def _fields(recipe: Mapping[str, Comparable] | None, data: DataInfo | None) -> dict[str, Comparable]:
    """Flat comparable fields: recipe keys, `sha256.<file>`, `verified` (absent ones are left out) and the
    subset limits (None, the whole split, is a value: a run of the whole split refuses a limited one)."""
    fields = {k: v for k, v in (recipe or {}).items() if k in Recipe.__dataclass_fields__}
    if data is not None:
        fields.update({f"sha256.{k}": v for k, v in data.sha256.items() if k in DATA_KEYS})
        if data.verified is not None:
            fields["verified"] = data.verified
        fields.update(train_limit=_limit(data.train_limit), test_limit=_limit(data.test_limit))
    return fields


def _limit(value: int | None) -> int | str:
    return "none (whole split)" if value is None else value


def differences(state: SeedState, recipe: Recipe, data: DataInfo | None) -> dict[str, tuple]:
    """{key: (recorded, requested)} for every key both sides give and that differs (data None: unknown)."""
    recorded = _fields(state.recipe, state.data)
    requested = _fields(dataclasses.asdict(recipe), data)
    return {
        k: (recorded[k], requested[k])
        for k in requested
        if k in recorded and not _same(recorded[k], requested[k])
    }


def _same(recorded: Any, requested: Any) -> bool:
    if isinstance(recorded, int | float) and isinstance(requested, int | float):
        return float(recorded) == float(requested)  # 10 == 10.0 after a JSON round trip
    return recorded == requested


def plan_seed(state: SeedState) -> SeedPlan:
    """The action for one seed, once its recorded recipe and data are known to agree with the request."""
    if state.finished:
        accuracy = f" (test accuracy {state.test_accuracy:.4f})" if state.test_accuracy is not None else ""
        return SeedPlan(state.seed, SKIP, None, f"complete{accuracy}")
    if state.epoch and state.recipe is None:
        return SeedPlan(state.seed, TRAIN, 1, "its checkpoint records no recipe (older version)")
    if state.epoch:
        return SeedPlan(state.seed, RESUME, state.epoch + 1, f"checkpoint after epoch {state.epoch}")
    return SeedPlan(state.seed, TRAIN, 1, "nothing recorded")


def plan_seeds(
    run_id: str,
    seeds: Iterable[int],
    states: Mapping[int, SeedState],
    recipe: Recipe,
    data: DataInfo | None = None,
) -> list[SeedPlan]:
    """Every asked-for seed's plan; ConfigError when any seed of the run recorded another recipe or data.

    `states` holds every seed the run has files for, asked for or not: a run keeps one recipe.
    """
    conflicts = {s: differences(state, recipe, data) for s, state in sorted(states.items())}
    conflicts = {s: d for s, d in conflicts.items() if d}
    if conflicts:
        raise ConfigError(conflict_line(run_id, conflicts))
    return [plan_seed(states.get(s) or SeedState(s)) for s in seeds]


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64:  # a SHA-256
        return value[:12] + "…"
    return str(value)


def conflict_line(run_id: str, conflicts: Mapping[int, Mapping[str, tuple]]) -> str:
    """One line: each differing key with its recorded value(s), the seeds recording them, and the request."""
    by_key: dict[str, dict[str, list[int]]] = {}
    requested: dict[str, Comparable] = {}
    for seed, diffs in conflicts.items():
        for key, (was, wanted) in diffs.items():
            by_key.setdefault(key, {}).setdefault(_short(was), []).append(seed)
            requested[key] = wanted
    parts = []
    for key, recorded in by_key.items():
        was = ", ".join(f"{value} (seeds {seeds})" for value, seeds in recorded.items())
        parts.append(f"{key} recorded {was}, requested {_short(requested[key])}")
    return (
        f"run {run_id} holds seeds made with other settings: {'; '.join(parts)}. "
        "Nothing was written: use a new --run-id, or the recorded settings"
    )
