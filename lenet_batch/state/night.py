"""One night as every reader shows it: `check` (its newest night), `runs` (a row each), history.html,
runs.parquet, the metrics file and the webhook (pure: built from the night's state and its outcome)."""

from dataclasses import dataclass

from lenet_batch.json_records import JsonRecord
from lenet_batch.state.manifest import Change, changes_text
from lenet_batch.state.outcome import STAGES, NightOutcome, night_outcome, seed_counts
from lenet_batch.state.run_state import RunState
from lenet_batch.store import storage
from lenet_batch.store.record_reads import printable
from lenet_batch.store.run_record import Acceptance, Pruning
from lenet_batch.summary.report import headline_line
from lenet_batch.summary.types import Comparison


@dataclass(frozen=True)
class StageStatus(JsonRecord):
    """A stage's status and wall seconds as run.json recorded them (None: not recorded)."""

    stage: str
    status: str | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class NightStatus(JsonRecord):
    """A night: its outcome (state/outcome.py), where and why, its stages and seeds, its accuracy with the
    95% interval, the gate's verdict against its baseline and what changed since, its report, and whether
    it was pruned."""

    run_id: str
    outcome: str
    stage: str | None = None  # where it failed or stopped (None: ok, or nothing recorded)
    reason: str = ""  # one line: why this outcome
    created_at: str | None = None
    updated_at: str | None = None
    stages: tuple[StageStatus, ...] = ()
    seeds_ok: int = 0
    failed_seeds: tuple[int, ...] = ()
    mean_accuracy: float | None = None
    ci95_low: float | None = None  # None below 3 seeds
    ci95_high: float | None = None
    ci95_clipped: bool = False  # the interval reached past 0 or 1 and was cut there
    min_accuracy: float | None = None
    max_accuracy: float | None = None
    ensemble_accuracy: float | None = None
    verdict: str | None = None  # the gate's: passed, regressed, inconclusive, n/a, not comparable
    chip: str | None = None  # the verdict's word on the pages: the verdict, or drift
    gate: str | None = None  # the gate's line: verdict and its full sentence
    gate_rule: str | None = None  # the rule applied: welch, separation or threshold
    p_value: float | None = None
    effect: float | None = None  # mean accuracy minus the baseline's
    baseline_run_id: str | None = None
    reference_run_id: str | None = None  # the reference night it was also compared with (slow drift)
    detectable_drop: float | None = None  # the smallest drop the gate could tell at these seeds and noise
    seeds_needed: int | None = None  # seeds a side that would tell a drop of max_drop at this noise
    accepted: Acceptance | None = None  # accepted by hand as the new baseline and reference
    pruned: Pruning | None = None  # its predictions, models and logs removed (`prune`); its outcome stands
    changes: str | None = None  # since the baseline, in words: "lr 0.1 → 0.01", "nothing recorded changed"
    changed: tuple[Change, ...] | None = (
        None  # the same, one (key, baseline, current) each; None: not compared
    )
    regressed: bool | None = None  # the gate found it regressed (None: no comparison was made)
    headline: str | None = None
    report: str | None = None  # report.html's URI
    problems: tuple[str, ...] = ()  # a damaged night's records and what is wrong with each

    def status(self, stage: str) -> str | None:
        """A stage's recorded status (None: not recorded)."""
        return next((s.status for s in self.stages if s.stage == stage), None)


def changed_line(night: NightStatus) -> str | None:
    """What changed as monitors print it: "changed since n1: lr 0.1 → 0.01", "nothing recorded changed
    since n1", or None when the night was not compared or its records do not say."""
    if night.changes is None or night.baseline_run_id is None:
        return None
    if not night.changed:
        return f"{night.changes} since {night.baseline_run_id}"
    return f"changed since {night.baseline_run_id}: {night.changes}"


def pruned_line(night: NightStatus) -> str | None:
    """The note of a pruned night: "pruned 2026-12-06", or that a prune stopped halfway (None: none)."""
    p = night.pruned
    if p is None:
        return None
    return f"pruned {p.finished_at[:10]}" if p.finished_at else "pruning stopped: the next prune finishes it"


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


def _gate(cmp: Comparison | None) -> dict:
    """The gate's fields of a night (all None without a comparison)."""
    if cmp is None:
        return {}
    compared = cmp.baseline_run_id is not None
    return {
        "verdict": cmp.outcome(),
        "chip": cmp.chip(),
        "gate": cmp.line(),
        "reference_run_id": cmp.reference.run_id if cmp.reference else None,
        "detectable_drop": cmp.detectable_drop,
        "seeds_needed": cmp.seeds_needed,
        "gate_rule": cmp.applied_rule or cmp.rule,
        "p_value": cmp.test.p_value if cmp.test else None,
        "effect": cmp.mean_accuracy.delta,
        "baseline_run_id": cmp.baseline_run_id,
        "changes": changes_text(cmp.changes) if compared else None,
        "changed": cmp.changes if compared else None,
        "regressed": cmp.regressed if cmp.outcome() != "n/a" else None,
    }


def _accuracy(state: RunState) -> dict:
    """The night's accuracy fields: mean, the interval as shown (cut at 0 and 1), min, max, ensemble."""
    if state.summary is None:
        return {}
    across = state.summary.across_seeds
    ci = across.interval()  # none below 3 seeds, whatever an older summary holds
    return {
        "mean_accuracy": across.mean,
        "ci95_low": max(ci.low, 0.0) if ci else None,  # older summaries were not cut at 0 and 1
        "ci95_high": min(ci.high, 1.0) if ci else None,
        "ci95_clipped": bool(ci and (across.ci95_clipped or ci.low < 0.0 or ci.high > 1.0)),
        "min_accuracy": across.min,
        "max_accuracy": across.max,
        "ensemble_accuracy": state.summary.ensemble.accuracy,
        "headline": headline_line(state.summary),
        "report": storage.join(state.run.summary_dir, "report.html"),
    }


def night_status(state: RunState, running: bool = False, outcome: NightOutcome | None = None) -> NightStatus:
    """The night as every reader shows it; `running` when a live nightly holds the lock for it."""
    found = outcome or night_outcome(state, running)
    record = state.record
    cmp = state.summary.comparison if state.summary else None
    ok, failed = seed_counts(state)
    reason = (
        found.reason
        if found.outcome not in ("regressed", "inconclusive") or cmp is None
        else verdict_in_brief(cmp)
    )
    stages = record.stages if record else {}
    return NightStatus(
        run_id=printable(state.run_id),
        outcome=found.outcome,
        stage=found.stage,
        reason=reason,
        created_at=record.created_at if record else None,
        updated_at=record.updated_at if record else None,
        stages=tuple(StageStatus(s, e.status, e.seconds) for s in STAGES if (e := stages.get(s)) is not None),
        seeds_ok=ok,
        failed_seeds=failed,
        problems=state.problems,
        accepted=record.acceptance if record else None,
        pruned=record.pruning if record else None,
        **_accuracy(state),
        **_gate(cmp),
    )
