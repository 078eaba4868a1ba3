"""One night's outcome from its small records (run.json and summary.json), as `check`, the metrics file and
the webhook report it. Pure: the caller reads the records.

Outcomes: ok; seeds_failed (some, not all, seeds of a stage failed); regressed (the gate said so);
failed (a stage failed, was interrupted, or stopped without recording a status while no nightly holds the
lock; or the records do not read); running (a live nightly holds the output's lock for it).
"""

from dataclasses import dataclass

from lenet_batch.json_records import JsonRecord
from lenet_batch.store.run_record import RunRecord
from lenet_batch.summary.report import headline_line
from lenet_batch.summary.types import Change, Comparison, RunSummary, changes_text

STAGES = ("train", "infer", "summary")
OUTCOMES = ("ok", "seeds_failed", "regressed", "failed", "running")


@dataclass(frozen=True)
class StageStatus(JsonRecord):
    """A stage's status and wall seconds as run.json recorded them (None: not recorded)."""

    stage: str
    status: str | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class NightStatus(JsonRecord):
    """A night as a monitor sees it: its outcome, where and why, and the numbers worth a graph."""

    run_id: str
    outcome: str  # one of OUTCOMES
    stage: str | None = None  # where it failed or stopped (None: ok, or nothing recorded)
    reason: str = ""  # one line: why this outcome
    created_at: str | None = None
    updated_at: str | None = None
    stages: tuple[StageStatus, ...] = ()
    seeds_ok: int = 0
    failed_seeds: tuple[int, ...] = ()
    mean_accuracy: float | None = None
    ensemble_accuracy: float | None = None
    p_value: float | None = None
    regressed: bool | None = None  # None: no comparison was made
    baseline_run_id: str | None = None
    gate: str | None = None  # the gate's line: verdict and its full sentence
    changes: str | None = (
        None  # what changed against the baseline: "lr 0.1 → 0.01", "nothing recorded changed"
    )
    changed: tuple[Change, ...] | None = (
        None  # the same, one (key, baseline, current) each; None: not compared
    )
    headline: str | None = None
    report: str | None = None  # report.html's URI


def what_changed(cmp: Comparison | None) -> str | None:
    """What the run recorded differently from its baseline, in words (types.changes_text): "lr 0.1 → 0.01",
    "nothing recorded changed", or None (no baseline, or a run too old to have recorded it)."""
    if cmp is None or cmp.baseline_run_id is None:
        return None
    return changes_text(cmp.changes)


def changed_line(night: "NightStatus") -> str | None:
    """What changed as monitors print it: "changed since n1: lr 0.1 → 0.01", "nothing recorded changed
    since n1", or None when the night was not compared or its records do not say."""
    if night.changes is None or night.baseline_run_id is None:
        return None
    if not night.changed:
        return f"{night.changes} since {night.baseline_run_id}"
    return f"changed since {night.baseline_run_id}: {night.changes}"


def verdict_in_brief(cmp: Comparison) -> str:
    """The gate's verdict without its full sentence (which stays in NightStatus.gate): "gate: REGRESSED
    against n1: mean 0.4790 → 0.1290 (-0.3500), separation rule", and any failed seeds."""
    said = "REGRESSED" if cmp.outcome() == "regressed" else cmp.outcome()
    parts = [f"gate: {said} against {cmp.baseline_run_id}"]
    m = cmp.mean_accuracy
    if m.current is not None and m.baseline is not None and m.delta is not None:
        rule = cmp.applied_rule or cmp.rule
        parts[0] += f": mean {m.baseline:.4f} → {m.current:.4f} ({m.delta:+.4f}), {rule} rule"
    if cmp.failed_seeds:
        parts.append(f"{len(cmp.failed_seeds)} seed(s) failed: {list(cmp.failed_seeds)}")
    return ", ".join(parts)


def _stage_problem(record: RunRecord, stage: str) -> tuple[str, str] | None:
    """(outcome, reason) for a stage that did not complete, or None when it did."""
    status = record.stage_status(stage)
    if status == "complete":
        return None
    if status == "regressed":
        return "regressed", "the gate found a regression"
    rows = record.stage_seeds(stage)
    failed = sorted(r.seed for r in rows if r.status == "failed")
    if status == "failed" and failed and len(failed) < len(rows):
        return "seeds_failed", f"{len(failed)} of {len(rows)} seeds failed in {stage}: {failed}"
    if status == "failed":
        every = f": every seed ({len(rows)}) failed" if failed else ""
        return "failed", f"{stage} failed{every}"
    if status == "interrupted":
        return "failed", f"{stage} was interrupted (SIGTERM or Ctrl-C); the next nightly resumes it"
    shown = f"status {status!r}" if status else "no status recorded"
    return "failed", f"{stage} did not finish ({shown}) and no nightly holds the lock"


def _outcome(
    record: RunRecord | None, summary: RunSummary | None, problems: tuple[str, ...]
) -> tuple[str, str | None, str]:
    """(outcome, stage, reason) of a night no nightly is running."""
    if record is None:
        return "failed", None, problems[0] if problems else "run.json not found"
    for stage in STAGES:
        found = _stage_problem(record, stage)
        if found:
            return found[0], stage, found[1]
    if summary is None:
        return "failed", "summary", problems[0] if problems else "summary.json not found"
    if summary.comparison is not None and summary.comparison.outcome() == "regressed":
        return "regressed", "summary", "the gate found a regression"
    return "ok", None, ""


def night_status(
    run_id: str,
    record: RunRecord | None,
    summary: RunSummary | None,
    problems: tuple[str, ...] = (),
    running: bool = False,
) -> NightStatus:
    """The night's status from its records; `running` when a live nightly holds the lock for it."""
    outcome, stage, reason = _outcome(record, summary, problems)
    if running:
        outcome, reason = "running", f"a nightly is running it (stage {stage or 'train'} next or under way)"
    record = record or RunRecord(run_id)
    cmp = summary.comparison if summary else None
    failed = set(record.failed_seeds()) | set(summary.failed_seeds if summary else ())
    ok = len(summary.per_seed) if summary else len({r.seed for r in record.stage_seeds("train")} - failed)
    return NightStatus(
        run_id=run_id,
        outcome=outcome,
        stage=stage,
        reason=reason if outcome != "regressed" or cmp is None else verdict_in_brief(cmp),
        created_at=record.created_at,
        updated_at=record.updated_at,
        stages=tuple(
            StageStatus(s, e.status, e.seconds) for s in STAGES if (e := record.stages.get(s)) is not None
        ),
        seeds_ok=ok,
        failed_seeds=tuple(sorted(failed)),
        mean_accuracy=summary.across_seeds.mean if summary else None,
        ensemble_accuracy=summary.ensemble.accuracy if summary else None,
        p_value=cmp.test.p_value if cmp and cmp.test else None,
        regressed=cmp.regressed if cmp and cmp.outcome() != "n/a" else None,
        baseline_run_id=cmp.baseline_run_id if cmp else None,
        gate=cmp.line() if cmp else None,
        changes=what_changed(cmp),
        changed=cmp.changes if cmp is not None and cmp.baseline_run_id else None,
        headline=headline_line(summary) if summary else None,
        report=summary.report_html or None if summary else None,
    )
