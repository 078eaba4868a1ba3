"""What a run, or one seed of it, recorded as its identity; and the one comparison of two of them.

A Manifest holds the recipe, the data (digests, verified, subset limits) and the seeds, and the provenance
that decides a run's bits (package versions on the driver, git commit, ISA class). `differences` lists the
keys that differ, as Changes. It is the only comparison of recorded values: the plan refuses a run whose
seeds recorded another recipe or other data (identity keys only), and the gate, `check`, `runs` and the
webhook say what changed since the baseline (every key). A key one side did not record is left out.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from lenet_batch.config import Recipe
from lenet_batch.json_records import JsonRecord
from lenet_batch.records import DataInfo, GitCommit, digest_of_test_split

SHORT = 12  # hex digits of a digest or commit shown
WHOLE_SPLIT = "whole split"  # a subset limit of None: the split was not cut
Value = int | float | str | bool | None


@dataclass(frozen=True)
class Change(JsonRecord):
    """One key recorded differently: before (the baseline, or what a run recorded) and after (tonight, or
    what is asked now), each as text."""

    key: str
    baseline: str | None
    current: str | None

    def text(self) -> str:
        """'lr 0.1 → 0.01'."""
        return f"{self.key} {self.baseline if self.baseline is not None else '—'} → {self.current or '—'}"


def changes_text(changes: "tuple[Change, ...] | list[Change] | None") -> str | None:
    """What changed in words ('lr 0.1 → 0.01, seeds 0-2 → 3-5'), 'nothing recorded changed', or None."""
    if changes is None:
        return None
    return ", ".join(c.text() for c in changes) or "nothing recorded changed"


def value_text(value: Value) -> str | None:
    """A recorded value as a change shows it: digests and commits shortened, floats as written."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text[:SHORT] if len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text) else text


def seed_ranges(seeds: "tuple[int, ...] | list[int]") -> str:
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


def _same(a: Value, b: Value) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a) == float(b)  # 10 == 10.0 after a JSON round trip
    return a == b


@dataclass(frozen=True)
class Manifest:
    """What a run (or a seed) recorded: recipe, data and seeds (its identity), and its provenance."""

    IDENTITY: ClassVar[tuple[str, ...]] = ("recipe", "data")  # what a run's seeds must agree on

    recipe: Recipe | None = None
    data: DataInfo | None = None
    seeds: tuple[int, ...] = ()  # empty: not recorded
    versions: Mapping[str, str | None] = field(default_factory=dict)
    git: GitCommit | None = None
    isa_class: str | None = None

    @property
    def test_split(self) -> str | None:
        """The digest of the test split (records.digest_of_test_split), None when not recorded."""
        return digest_of_test_split(self.data)

    def _recipe(self) -> Iterator[tuple[str, Value]]:
        yield from (self.recipe.to_json() if self.recipe is not None else {}).items()

    def _data(self) -> Iterator[tuple[str, Value]]:
        if self.data is None:
            return
        yield from ((f"data {name}", digest) for name, digest in self.data.sha256.items())
        yield "data verified", self.data.verified
        yield "data train_limit", self.data.train_limit or WHOLE_SPLIT
        yield "data test_limit", self.data.test_limit or WHOLE_SPLIT

    def _provenance(self) -> Iterator[tuple[str, Value]]:
        yield "test split", self.test_split
        yield from self.versions.items()
        if self.git is not None:
            yield "git commit", self.git.commit
            yield "git tree dirty", self.git.dirty
        yield "seeds", seed_ranges(self.seeds) or None
        yield "isa_class", self.isa_class

    def values(self, identity_only: bool = False) -> dict[str, Value]:
        """Every compared key and its value, in order: recipe, data, then (unless identity_only) the test
        split, versions, git, seeds and ISA class."""
        values = dict(self._recipe()) | dict(self._data())
        return values if identity_only else values | dict(self._provenance())

    def differences(self, before: "Manifest", identity_only: bool = False) -> list[Change]:
        """What `before` (a baseline, or what a run recorded) has otherwise than this manifest (tonight, or
        what is asked now), key by key; keys either side did not record are left out."""
        ours, theirs = self.values(identity_only), before.values(identity_only)
        return [
            Change(key, value_text(theirs[key]), value_text(now))
            for key, now in ours.items()
            if now is not None and theirs.get(key) is not None and not _same(now, theirs[key])
        ]
