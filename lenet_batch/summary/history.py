"""Runs across nights (pure): one row per run for `lenet-batch runs`, one per (run, seed) for runs.parquet.

Built from each run's run.json and summary.json only (runs_index.RunFiles), never from predictions.
"""

from typing import Any

import numpy as np

from lenet_batch.store.run_record import stage_seeds, stage_status
from lenet_batch.store.runs_index import RunFiles
from lenet_batch.summary import gate

STAGES = ("train", "infer", "summary")
# A night as the trend report marks it: ok (passed, or nothing to compare with), regressed (gated),
# failed (a stage or a seed failed, or its records are unreadable), incomplete (running or interrupted).
STATES = ("ok", "regressed", "failed", "incomplete")


def stage_failures(record: dict[str, Any]) -> set[int]:
    """Seeds the train or infer stage marked failed."""
    rows = stage_seeds(record, "train") + stage_seeds(record, "infer")
    return {int(r["seed"]) for r in rows if r.get("status") == "failed"}


def seed_counts(run: RunFiles) -> tuple[int, int]:
    """(seeds ok, seeds failed): from the summary when there is one, else from the train and infer stages."""
    if run.summary is not None:
        return len(gate.seed_accuracies(run.summary)), len(run.summary.get("failed_seeds") or [])
    record = run.record or {}
    failed = stage_failures(record)
    trained = {int(r["seed"]) for r in stage_seeds(record, "train")} - failed
    return len(trained), len(failed)


def state(run: RunFiles, seeds_failed: int) -> str:
    """ok, regressed, failed or incomplete (see STATES)."""
    if run.record is None or run.problems:
        return "failed"
    statuses = {s: stage_status(run.record, s) for s in STAGES}
    if seeds_failed or any(v in ("failed", "interrupted") for v in statuses.values()):
        return "failed"
    if statuses["summary"] == "regressed":
        return "regressed"
    return "ok" if statuses["summary"] == "complete" and run.summary is not None else "incomplete"


def _summary_numbers(summary: dict[str, Any] | None) -> dict[str, Any]:
    """Mean with its CI, min, max and ensemble accuracy of a summary.json (None when it has none)."""
    across = (summary or {}).get("across_seeds") or {}
    ci = across.get("ci95") or [None, None]
    return {
        "mean_accuracy": across.get("mean"),
        "ci95_low": ci[0],
        "ci95_high": ci[1],
        "min_accuracy": across.get("min"),
        "max_accuracy": across.get("max"),
        "ensemble_accuracy": ((summary or {}).get("ensemble") or {}).get("accuracy"),
    }


def _gate_columns(summary: dict[str, Any] | None) -> dict[str, Any]:
    """The gate's verdict, baseline, rule, p-value, effect and sentence (None without a summary)."""
    cmp = (summary or {}).get("comparison")
    if not cmp:
        return dict.fromkeys(("gate", "baseline_run_id", "gate_rule", "p_value", "effect", "gate_sentence"))
    return {
        "gate": gate.verdict(cmp),
        "baseline_run_id": cmp.get("baseline_run_id"),
        "gate_rule": cmp.get("applied_rule") or cmp.get("rule"),
        "p_value": (cmp.get("test") or {}).get("p_value"),
        "effect": (cmp.get("mean_accuracy") or {}).get("delta"),
        "gate_sentence": gate.gate_line(cmp),
    }


def run_row(run: RunFiles) -> dict[str, Any]:
    """One run as `lenet-batch runs` shows it (and history.html's table)."""
    record = run.record or {}
    ok, failed = seed_counts(run)
    return {
        "run_id": run.run_id,
        "created_at": record.get("created_at"),
        **{stage: stage_status(record, stage) for stage in STAGES},
        "seeds_ok": ok,
        "seeds_failed": failed,
        **_summary_numbers(run.summary),
        **_gate_columns(run.summary),
        "state": state(run, failed),
        # relative to the output; summary.json is written after report.html, so the report exists
        "report": f"runs/{run.run_id}/summary/report.html" if run.summary is not None else None,
        "problems": list(run.problems),
    }


def run_rows(runs: list[RunFiles]) -> list[dict[str, Any]]:
    """Every run's row, in the order given (runs_index gives newest first)."""
    return [run_row(run) for run in runs]


def per_class_matrix(runs: list[RunFiles]) -> tuple[list[str], np.ndarray]:
    """Class names and the mean per-class accuracy, classes × runs in the order given (NaN: no summary)."""
    names: list[str] = next((list(r.summary.get("class_names") or []) for r in runs if r.summary), [])
    matrix = np.full((len(names), len(runs)), np.nan)
    for j, run in enumerate(runs):
        for row in (run.summary or {}).get("per_class") or []:
            if row.get("class_name") in names and row.get("mean") is not None:
                matrix[names.index(row["class_name"]), j] = row["mean"]
    return names, matrix
