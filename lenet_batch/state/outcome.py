"""How a night ended: one vocabulary, decided once from the run's state (pure).

`check`, `runs`, runs.parquet, history.html, the metrics file, the webhook and the exit codes all take a
night's outcome from `night_outcome`, and its seeds from `seed_counts`:
- ok: every stage complete and the gate passed (or had nothing to compare with);
- regressed / inconclusive: the gate's verdict (exit 4 / 8);
- seeds_failed: some, not all, seeds of a stage failed (exit 3);
- failed: a stage failed, or never finished while no nightly holds the lock (`stage` names it);
- interrupted: stopped by SIGTERM or Ctrl-C; the next nightly resumes it;
- damaged: a record does not read, or does not say what it claims (`reason` names the file and why);
- running: a live nightly holds the output's lock for it.
An attempt at a night can also end before the night ran: refused (exit 2: bad settings or data, nothing
written) or locked (exit 5: another run holds the lock).
"""

from dataclasses import dataclass

from lenet_batch.errors import (
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_SEEDS_FAILED,
    EXIT_USAGE,
)
from lenet_batch.json_records import JsonRecord
from lenet_batch.state.run_state import RunState

STAGES = ("train", "infer", "summary", "history")  # a night's stages, in order, as run.json records them
JUDGED_STAGES = STAGES[:3]  # the history is rebuilt from the nights: it decides none of them

OK, REGRESSED, INCONCLUSIVE, SEEDS_FAILED = "ok", "regressed", "inconclusive", "seeds_failed"
FAILED, INTERRUPTED, DAMAGED, RUNNING = "failed", "interrupted", "damaged", "running"
REFUSED, LOCKED = "refused", "locked"  # an attempt that did not run its night
OUTCOMES = (OK, REGRESSED, INCONCLUSIVE, SEEDS_FAILED, FAILED, INTERRUPTED, DAMAGED, RUNNING, REFUSED, LOCKED)
EXIT_CODES = {
    OK: EXIT_OK,
    SEEDS_FAILED: EXIT_SEEDS_FAILED,
    REGRESSED: EXIT_REGRESSION,
    INCONCLUSIVE: EXIT_INCONCLUSIVE,
    RUNNING: EXIT_LOCKED,
    LOCKED: EXIT_LOCKED,
    REFUSED: EXIT_USAGE,
    FAILED: EXIT_FAILED,
    INTERRUPTED: EXIT_FAILED,
    DAMAGED: EXIT_FAILED,
}
GATE_OUTCOMES = {"regressed": REGRESSED, "inconclusive": INCONCLUSIVE}  # the gate's verdicts that end a night


@dataclass(frozen=True)
class NightOutcome(JsonRecord):
    """How a night ended: one of OUTCOMES, the stage where it stopped (None: nowhere), and why."""

    outcome: str
    stage: str | None = None
    reason: str = ""

    @property
    def exit_code(self) -> int:
        """The exit code this outcome means, for every command and monitor."""
        return EXIT_CODES[self.outcome]


def seed_counts(state: RunState) -> tuple[int, tuple[int, ...]]:
    """(seeds ok, the failed seeds): from the summary when there is one, else from the train and infer
    stages (a seed trained and not failed counts as ok)."""
    record, summary = state.record, state.summary
    failed = set(record.failed_seeds()) if record else set()
    if summary is not None:
        return len(summary.per_seed), tuple(sorted(failed | set(summary.failed_seeds)))
    trained = {r.seed for r in record.stage_seeds("train")} if record else set()
    return len(trained - failed), tuple(sorted(failed))


def _stage_outcome(state: RunState, stage: str) -> NightOutcome | None:
    """The outcome a stage that did not complete gives the night, or None when it completed."""
    status = state.stage_status(stage)
    if status == "complete" or (status in GATE_OUTCOMES and state.record and state.record.acceptance):
        return None
    if status in GATE_OUTCOMES:  # summary status of older versions: "regressed"
        return NightOutcome(GATE_OUTCOMES[status], stage, f"the gate found the night {status}")
    rows = state.record.stage_seeds(stage) if state.record else ()
    failed = sorted(r.seed for r in rows if r.status == "failed")
    if status == "failed" and failed and len(failed) < len(rows):
        return NightOutcome(
            SEEDS_FAILED, stage, f"{len(failed)} of {len(rows)} seeds failed in {stage}: {failed}"
        )
    entry = state.record.stages.get(stage) if state.record else None
    why = entry.reason if entry is not None else None
    if status == "failed":
        every = f": every seed ({len(rows)}) failed" if failed else f": {why}" if why else ""
        return NightOutcome(FAILED, stage, f"{stage} failed{every}")
    if status == "interrupted":
        said = f" ({why})" if why else " (SIGTERM or Ctrl-C)"
        return NightOutcome(INTERRUPTED, stage, f"{stage} was interrupted{said}; the next nightly resumes it")
    shown = f"status {status!r}" if status else "no status recorded"
    return NightOutcome(FAILED, stage, f"{stage} did not finish ({shown}) and no nightly holds the lock")


def night_outcome(state: RunState, running: bool = False) -> NightOutcome:
    """How the night ended (or that a live nightly holds the lock for it: `running`)."""
    if running:
        return NightOutcome(RUNNING, None, "a nightly is running it")
    if state.problems or state.record is None:
        return NightOutcome(DAMAGED, None, "; ".join(state.problems) or f"{state.run.run_json}: not found")
    for stage in JUDGED_STAGES:
        found = _stage_outcome(state, stage)
        if found is not None:
            return found
    if state.stage_status("history") == "interrupted":
        return NightOutcome(INTERRUPTED, "history", "history was interrupted; the next nightly rebuilds it")
    if state.summary is None:
        return NightOutcome(FAILED, "summary", f"{state.run.summary_json}: not found")
    cmp = state.summary.comparison
    verdict = cmp.outcome() if cmp is not None else "n/a"
    accepted = state.record.acceptance
    if verdict in GATE_OUTCOMES and accepted is not None:  # a deliberate change: its alarm is over
        return NightOutcome(
            OK, None, f"{verdict}, accepted by {accepted.by} ({accepted.at}): {accepted.reason}"
        )
    if verdict in GATE_OUTCOMES:
        return NightOutcome(GATE_OUTCOMES[verdict], "summary", f"the gate found the night {verdict}")
    return NightOutcome(OK)


@dataclass(frozen=True)
class AttemptEnd(JsonRecord):
    """How one attempt at a night ended: its outcome (OUTCOMES: refused and locked included), its exit
    code, one line why (empty for ok) and when."""

    run_id: str
    outcome: str
    exit_code: int
    reason: str = ""
    finished_at: str = ""
