"""Runs across nights (pure): each run's records as a Night, and one RunRow per night for `lenet-batch runs`.

Built from each run's run.json and summary.json only (store.runs_index.RunFiles), never from predictions.
A summary.json that does not read as a summary is one of the night's problems, not an error of the listing.
"""

from dataclasses import dataclass

import numpy as np

from lenet_batch.errors import DataError
from lenet_batch.json_records import JsonRecord
from lenet_batch.store.record_reads import printable
from lenet_batch.store.run_record import RunRecord
from lenet_batch.store.runs_index import RunFiles
from lenet_batch.summary.types import Change, RunSummary, changes_text

STAGES = ("train", "infer", "summary")
# A night as the trend report marks it: ok (passed, or nothing to compare with), regressed (gated),
# failed (a stage or a seed failed), incomplete (running or interrupted), damaged (a record does not read,
# or the folder's name is not a run id: `problem` says why).
STATES = ("ok", "regressed", "failed", "incomplete", "damaged")


@dataclass(frozen=True)
class Night:
    """One run as the history reads it: run.json (a JSON object), its summary, and what was wrong."""

    run_id: str
    record: RunRecord | None
    summary: RunSummary | None
    problems: tuple[str, ...] = ()


def night_of(run: RunFiles) -> Night:
    """The run's records with its summary.json read as a RunSummary (a damaged one becomes a problem)."""
    run_id = printable(run.run_id)
    if run.summary is None:
        return Night(run_id, run.record, None, run.problems)
    where = f"run {run_id} summary.json"
    try:
        summary = RunSummary.from_json(run.summary, where)
        problem = _implausible(summary, run.run_id, where)
    except DataError as exc:
        summary, problem = None, str(exc)
    if problem:
        return Night(run_id, run.record, None, (*run.problems, printable(problem)))
    return Night(run_id, run.record, summary, run.problems)


def _implausible(summary: RunSummary, run_id: str, where: str) -> str | None:
    """What makes a summary that reads not this run's, or its accuracies not accuracies (None: nothing)."""
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
    return None


@dataclass(frozen=True)
class RunRow(JsonRecord):
    """One night as `lenet-batch runs` shows it (and history.html's table, and `runs --json`)."""

    run_id: str
    created_at: str | None
    train: str | None
    infer: str | None
    summary: str | None
    seeds_ok: int
    seeds_failed: int
    mean_accuracy: float | None
    ci95_low: float | None
    ci95_high: float | None
    min_accuracy: float | None
    max_accuracy: float | None
    ensemble_accuracy: float | None
    gate: str | None  # passed, regressed, n/a; None without a summary
    baseline_run_id: str | None
    gate_rule: str | None
    p_value: float | None
    effect: float | None
    gate_sentence: str | None
    state: str  # one of STATES
    report: str | None  # relative to the output
    problems: tuple[str, ...] = ()
    changes: tuple[Change, ...] | None = None  # vs the baseline (None: no baseline, or not recorded)
    ci95_clipped: bool = False  # the interval reached past 0 or 1 and was cut there
    problem: str | None = None  # a damaged night's problems on one line (None: the night is not damaged)

    def changes_text(self) -> str | None:
        """What changed since the baseline in words, 'nothing recorded changed', or None."""
        return changes_text(self.changes)


def seed_counts(night: Night) -> tuple[int, int]:
    """(seeds ok, seeds failed): from the summary when there is one, else from the train and infer stages."""
    if night.summary is not None:
        return len(night.summary.seed_accuracies()), len(night.summary.failed_seeds)
    record = night.record or RunRecord(night.run_id)
    failed = record.failed_seeds()
    trained = {r.seed for r in record.stage_seeds("train")} - failed
    return len(trained), len(failed)


def state(night: Night, seeds_failed: int) -> str:
    """ok, regressed, failed, incomplete or damaged (see STATES)."""
    if night.record is None or night.problems:
        return "damaged"
    statuses = {s: night.record.stage_status(s) for s in STAGES}
    if seeds_failed or any(v in ("failed", "interrupted") for v in statuses.values()):
        return "failed"
    if statuses["summary"] == "regressed":
        return "regressed"
    return "ok" if statuses["summary"] == "complete" and night.summary is not None else "incomplete"


def run_row(night: Night) -> RunRow:
    """One night's row: stage statuses, seeds, accuracy with its CI, ensemble, gate and baseline."""
    record, summary = night.record or RunRecord(night.run_id), night.summary
    ok, failed = seed_counts(night)
    across = summary.across_seeds if summary else None
    ci = across.interval() if across else None  # none below 3 seeds, whatever an older summary holds
    cmp = summary.comparison if summary else None
    return RunRow(
        run_id=night.run_id,
        created_at=record.created_at,
        **{stage: record.stage_status(stage) for stage in STAGES},
        seeds_ok=ok,
        seeds_failed=failed,
        mean_accuracy=across.mean if across else None,
        ci95_low=max(ci.low, 0.0) if ci else None,  # an accuracy: older summaries were not cut at 0 and 1
        ci95_high=min(ci.high, 1.0) if ci else None,
        min_accuracy=across.min if across else None,
        max_accuracy=across.max if across else None,
        ensemble_accuracy=summary.ensemble.accuracy if summary else None,
        gate=cmp.outcome() if cmp else None,
        baseline_run_id=cmp.baseline_run_id if cmp else None,
        gate_rule=(cmp.applied_rule or cmp.rule) if cmp else None,
        p_value=cmp.test.p_value if cmp and cmp.test else None,
        effect=cmp.mean_accuracy.delta if cmp else None,
        gate_sentence=cmp.line() if cmp else None,
        state=state(night, failed),
        # relative to the output; summary.json is written after report.html, so the report exists
        report=f"runs/{night.run_id}/summary/report.html" if summary is not None else None,
        problems=night.problems,
        changes=cmp.changes if cmp else None,
        ci95_clipped=bool(ci and across and (across.ci95_clipped or ci.low < 0.0 or ci.high > 1.0)),
        problem="; ".join(night.problems) or ("run.json not found" if night.record is None else None),
    )


def run_rows(nights: list[Night]) -> list[RunRow]:
    """Every night's row, in the order given (runs_index gives night order, newest first)."""
    return [run_row(night) for night in nights]


def per_class_matrix(nights: list[Night]) -> tuple[list[str], np.ndarray]:
    """Class names and the mean per-class accuracy, classes × nights in the order given (NaN: no summary)."""
    names: list[str] = next((list(n.summary.class_names) for n in nights if n.summary), [])
    matrix = np.full((len(names), len(nights)), np.nan)
    for j, night in enumerate(nights):
        for row in night.summary.per_class if night.summary else ():
            if row.class_name in names:
                matrix[names.index(row.class_name), j] = row.mean
    return names, matrix
