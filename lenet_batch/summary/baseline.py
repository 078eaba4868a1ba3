"""Which run tonight's is compared with: an explicit run id, the previous completed night (default), or none.

"previous" is the nearest earlier night in night order (store.runs_index.night_key: date ids by date, other
ids by start time) whose summary completed without regressing and that was scored on the same test split
(records.digest_of_test_split of run.json's data; a run that recorded none is not excluded). It depends only
on earlier nights, so a summary rerun by hand after the nightly compares with the same baseline and reaches
the same verdict, unless an earlier night was backfilled since: then the rerun compares with that one.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass

from lenet_batch.config import BASELINE_PREVIOUS
from lenet_batch.errors import ConfigError, DataError
from lenet_batch.records import digest_of_test_split
from lenet_batch.store import record_reads
from lenet_batch.store.backends import StorageOptions
from lenet_batch.store.layout import RunRef
from lenet_batch.store.runs_index import RunFiles, read_records
from lenet_batch.summary.types import RunSummary

log = logging.getLogger(__name__)

PREVIOUS = BASELINE_PREVIOUS  # the default: the latest earlier run whose summary completed
NO_BASELINE = ("none", "")


@dataclass(frozen=True)
class Baseline:
    """The run to compare with (its summary), or None and why there is none."""

    run_id: str | None
    summary: RunSummary | None
    reason: str  # how it was chosen, or why there is none


def summary_status(run: RunFiles) -> str:
    """complete, regressed, or why the run has no summary (a stage failed, never summarised, damaged)."""
    if run.record is None:
        return "without a readable run.json"
    if run.problems:  # e.g. a folder name no command can name: never a baseline
        return "damaged"
    status = run.record.stage_status("summary")
    if status:
        return status
    for stage in ("train", "infer"):
        if run.record.stage_status(stage) == "failed":
            return f"failed in {stage}"
    return "never summarised"


def earlier_runs(current: RunFiles, runs: list[RunFiles]) -> list[RunFiles]:
    """Runs before the current one in night order, nearest first."""
    earlier = [r for r in runs if r.run_id != current.run_id and r.order_key() < current.order_key()]
    return sorted(earlier, key=RunFiles.order_key, reverse=True)


def _test_data(run: RunFiles) -> str | None:
    return digest_of_test_split(run.record.data) if run.record else None


def _other_test_data(current: RunFiles, candidate: RunFiles) -> bool:
    """The candidate was scored on another test split than the current run (both recorded one)."""
    ours, theirs = _test_data(current), _test_data(candidate)
    return ours is not None and theirs is not None and ours != theirs


def why_none(current: RunFiles, earlier: list[RunFiles], passed_over: dict[str, str]) -> str:
    """Why no earlier run can be the baseline: there is none, or what became of each (passed_over: the
    completed runs whose summary.json is missing or damaged, and which)."""
    if not earlier:
        return f"no earlier run in this output: {current.run_id} is the first"
    groups: dict[str, list[str]] = defaultdict(list)
    for run in earlier:
        status = passed_over.get(run.run_id) or summary_status(run)
        if status == "complete" and _other_test_data(current, run):
            status = f"on other test data than {_test_data(current)}"
        groups[status].append(run.run_id)
    parts = [
        f"{len(ids)} {status} ({', '.join(ids[:3])}{', …' if len(ids) > 3 else ''})"
        for status, ids in groups.items()
    ]
    return f"none of the {len(earlier)} earlier run(s) completed its summary: {'; '.join(parts)}"


def previous_run(run: RunRef) -> tuple[str | None, str]:
    """The previous completed run's id (or None) and, in words, how it was chosen or why there is none."""
    found = _previous(run)
    return found.run_id, found.reason


def _previous(run: RunRef) -> Baseline:
    """The previous completed night on the same test data, its summary read once (or why there is none)."""
    runs = read_records(run.layout, summaries=False, warn=False)
    current = next((r for r in runs if r.run_id == run.run_id), RunFiles(run.run_id, None))
    earlier = earlier_runs(current, runs)
    passed_over: dict[str, str] = {}
    for candidate in earlier:
        if summary_status(candidate) != "complete" or _other_test_data(current, candidate):
            continue
        summary, problem = readable_summary(run.with_run_id(candidate.run_id).summary_json, run.options)
        if summary is not None:
            return Baseline(candidate.run_id, summary, "the previous completed night on the same test data")
        passed_over[candidate.run_id] = "summary.json damaged" if problem else "summary.json missing"
        if problem:  # one damaged night is passed over, as the listings do, not the end of tonight's gate
            log.warning("run %s is not a baseline: %s", candidate.run_id, problem)
    return Baseline(None, None, why_none(current, earlier, passed_over))


def readable_summary(uri: str, options: StorageOptions | None) -> tuple[RunSummary | None, str | None]:
    """A run's summary as a baseline reads it, or None and what is wrong with it (None, None: absent)."""
    doc, problem = record_reads.parse_object(uri, record_reads.read_small_many([uri], options)[uri])
    if doc is None:
        return None, problem
    try:
        summary = RunSummary.from_json(doc, uri)
    except DataError as exc:  # the wrong shape (RecordError)
        return None, str(exc)
    if summary.across_seeds.mean is None:
        return None, f"{uri}: no across_seeds.mean to compare with"
    return summary, None


def load_baseline(run: RunRef, baseline: str) -> Baseline:
    """The baseline: a run id, "previous" (the default) or "none"."""
    if baseline in NO_BASELINE:
        return Baseline(None, None, "--baseline none: no comparison asked for")
    if baseline == PREVIOUS:
        found = _previous(run)
        if found.run_id is None:
            log.info("run %s: no baseline: %s", run.run_id, found.reason)
        else:
            log.info("run %s: baseline %s (%s)", run.run_id, found.run_id, found.reason)
        return found
    if baseline == run.run_id:
        raise ConfigError(f"--baseline {baseline}: the baseline must be another run than {run.run_id}")
    uri = run.with_run_id(baseline).summary_json
    summary, problem = readable_summary(uri, run.options)
    if summary is None and problem is None:
        raise ConfigError(
            f"--baseline {baseline}: {uri} not found; summarise run {baseline} first or pick another"
        )
    if summary is None:  # a baseline named by hand and damaged: say so rather than compare with nothing
        raise DataError(f"--baseline {baseline}: {problem}; summarise run {baseline} again or pick another")
    log.info("run %s: baseline %s (--baseline %s)", run.run_id, baseline, baseline)
    return Baseline(baseline, summary, f"--baseline {baseline}")
