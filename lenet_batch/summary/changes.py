"""What changed between a run and its baseline (pure): the gate says it beside the verdict, so that a
regression names its likely cause ("changed: lr 0.1 → 0.01") or says that none was recorded.

Each summary's run metadata is read as a Manifest (state/manifest.py) and the two are compared there: the
recipe, the data's digests, limits and verification, the test split, the driver's package versions, the git
commit, the seed set and the ISA class (float32 bits differ across classes).
"""

from lenet_batch.config import Recipe, parse_seeds
from lenet_batch.errors import LenetError
from lenet_batch.state.manifest import Change, Manifest
from lenet_batch.summary.types import RunMetadata, RunSummary


def _seeds(ranges: str) -> tuple[int, ...]:
    try:
        return tuple(parse_seeds(ranges)) if ranges else ()
    except LenetError:  # a hand-edited summary: the seeds are left out of the comparison
        return ()


def summary_manifest(meta: RunMetadata) -> Manifest:
    """What a summary's run metadata recorded, as a Manifest."""
    try:
        recipe = Recipe.from_json(
            {k: v for k, v in meta.recipe.items() if k != "note"}, "run_metadata.recipe"
        )
    except LenetError:
        recipe = None
    return Manifest(
        recipe=recipe,
        data=meta.data,
        seeds=_seeds(meta.seeds),
        versions={v.package: v.driver for v in meta.versions},
        git=meta.git,
        isa_class=meta.machine.isa_class if meta.machine else None,
    )


def run_changes(current: RunSummary, baseline: RunSummary) -> tuple[Change, ...] | None:
    """What differs between the two runs' records (empty: nothing recorded changed); None when either run
    has no run metadata to compare (a summary.json written before it was recorded)."""
    if current.run_metadata is None or baseline.run_metadata is None:
        return None
    ours, theirs = summary_manifest(current.run_metadata), summary_manifest(baseline.run_metadata)
    return tuple(ours.differences(theirs))
