"""What makes a run's records damaged, decided once for every command that reads them (pure).

run.json: it must read as a JSON object of RunRecord's shape, for this folder's run. summary.json: the
same, for this run, with accuracies within [0, 1] and a gate verdict of the vocabulary. `check`, `runs`,
`history`, the baseline search and the stages all read a night through these, so none of them calls a
night healthy that another calls damaged.
"""

from lenet_batch.errors import DataError
from lenet_batch.store import record_reads
from lenet_batch.store.record_reads import Read
from lenet_batch.store.run_record import RunRecord
from lenet_batch.summary.types import VERDICTS, RunSummary


def parse_record(uri: str, run_id: str, read: Read) -> tuple[RunRecord | None, str | None]:
    """run.json as this run's RunRecord, or None and what is wrong with it (None, None: absent)."""
    doc, problem = record_reads.parse_object(uri, read)
    if doc is None:
        return None, problem
    try:
        record = RunRecord.from_json(doc, uri)
    except DataError as exc:
        return None, str(exc)
    if record.run_id != run_id:
        return None, f"{uri}: records run {record.run_id!r}, not the folder's {run_id!r}"
    return record, None


def checked_summary(uri: str, run_id: str, read: Read) -> tuple[RunSummary | None, str | None]:
    """summary.json as this run's RunSummary, or None and what is wrong with it (None, None: absent)."""
    doc, problem = record_reads.parse_object(uri, read)
    if doc is None:
        return None, problem
    try:
        summary = RunSummary.from_json(doc, uri)
    except DataError as exc:
        return None, str(exc)
    problem = implausible(summary, run_id, uri)
    return (None, problem) if problem else (summary, None)


def implausible(summary: RunSummary, run_id: str, where: str) -> str | None:
    """What makes a summary that reads not this run's, or its numbers not what they claim (None: nothing)."""
    if summary.run_id != run_id:
        return f"{where}: summarises run {summary.run_id!r}, not the folder's {run_id!r}"
    across = summary.across_seeds  # (its ci95 is not checked: older summaries did not cut it at 0 and 1)
    values = {
        "across_seeds": (across.mean, across.min, across.max),
        "ensemble.accuracy": (summary.ensemble.accuracy,),
        "per_seed": tuple(row.test_accuracy for row in summary.per_seed),
        "per_class": tuple(row.mean for row in summary.per_class),
    }
    for name, numbers in values.items():
        if any(v is not None and not 0.0 <= v <= 1.0 for v in numbers):
            return f"{where}: {name} holds an accuracy outside [0, 1]"
    if across.mean is None:
        return f"{where}: no across_seeds.mean"
    verdict = summary.comparison.verdict if summary.comparison else ""
    if verdict not in VERDICTS:
        shown = record_reads.printable(verdict)[:40]
        return (
            f"{where}: comparison.verdict {shown!r} is not a verdict ({', '.join(v for v in VERDICTS if v)})"
        )
    return None
