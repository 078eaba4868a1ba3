"""What changed between a run and its baseline, from what each recorded (pure): the gate says it beside the
verdict, so a regression names its likely cause ("changed: lr 0.1 → 0.01") or says that none was recorded.

Compared: the recipe's keys (epochs, batch size, lr, normalisation), the data's digests and whether it was
verified, the test split that was scored, the package versions on the driver, the git commit, the seed set
and the machine's ISA class (float32 bits differ across classes). A key one side did not record is left out.
"""

from collections.abc import Iterator
from typing import Any

from lenet_batch.summary.types import Change, RunMetadata, RunSummary

SHORT = 12  # hex digits of a digest or commit shown


def _text(value: Any) -> str | None:
    """A recorded value as the diff shows it: digests and commits shortened, floats as written."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text[:SHORT] if len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text) else text


def _recorded(meta: RunMetadata, scored_digest: str | None) -> dict[str, str | None]:
    """Every compared key of one run, flat: recipe keys, data.*, versions, git, seeds, isa_class."""
    values: dict[str, Any] = {k: v for k, v in meta.recipe.items() if k != "note"}
    values |= {f"data {name}": digest for name, digest in meta.data.sha256.items()}
    values["data verified"] = meta.data.verified
    values["test split"] = scored_digest
    values |= {v.package: v.driver for v in meta.versions}
    if meta.git is not None:
        values["git commit"] = meta.git.commit
        values["git tree dirty"] = meta.git.dirty
    values["seeds"] = meta.seeds or None
    values["isa_class"] = meta.machine.isa_class if meta.machine else None
    return {k: _text(v) for k, v in values.items()}


def _pairs(current: dict[str, str | None], baseline: dict[str, str | None]) -> Iterator[Change]:
    for key, now in current.items():
        before = baseline.get(key)
        if now is not None and before is not None and now != before:
            yield Change(key, before, now)


def run_changes(current: RunSummary, baseline: RunSummary) -> tuple[Change, ...] | None:
    """What differs between the two runs' records (empty: nothing recorded changed); None when either run
    has no run metadata to compare (a summary.json written before it was recorded)."""
    if current.run_metadata is None or baseline.run_metadata is None:
        return None
    ours = _recorded(current.run_metadata, current.scored.digest if current.scored else None)
    theirs = _recorded(baseline.run_metadata, baseline.scored.digest if baseline.scored else None)
    return tuple(_pairs(ours, theirs))
