"""The one owner of a run's state while a command works on it.

It holds the state read once (state/run_state.py), writes run.json from it (never read back), and is told
what each stage wrote: the seeds' metrics.json, the partitions' markers, the summary. So a command reads
each record at most once, and knows whether it wrote anything (`wrote`) without comparing bytes.
"""

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from lenet_batch.config import Recipe
from lenet_batch.errors import NOTHING_RAN, LenetError
from lenet_batch.provenance import now_utc
from lenet_batch.records import DataInfo
from lenet_batch.state.run_state import RunState, read_state
from lenet_batch.stops import by_sigterm
from lenet_batch.store import run_record
from lenet_batch.store.layout import RunRef
from lenet_batch.store.run_record import Acceptance, Pruning, RunRecord, StageEntry
from lenet_batch.store.seed_records import ScoreResult, TrainResult
from lenet_batch.summary.types import RunSummary

log = logging.getLogger(__name__)


class RunOwner:
    """A run's state in memory during one command, and the only writer of its run.json."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.wrote = False  # this command changed the run (run.json, a seed, a partition or the summary)

    @classmethod
    def read(cls, run: RunRef, input_name: str | None = None) -> "RunOwner":
        """The owner of the run for one command, its state read once (the one reader of a run's records:
        state/run_state.read_state; listings read many runs' light states in state/listing.py)."""
        return cls(read_state(run, input_name))

    @property
    def run(self) -> RunRef:
        return self.state.run

    def start(self, *, config: dict[str, Any], recipe: Recipe, seeds: Sequence[int], data: DataInfo) -> None:
        """Record the run's settings, recipe, seeds, data and provenance as its training starts."""
        before = self.state.record
        record = run_record.started(
            before, self.run.run_id, config=config, recipe=recipe, seeds=tuple(seeds), data=data
        )
        self._write(record)

    def stage_done(self, stage: str, entry: StageEntry) -> None:
        """Record how a stage ended in run.json."""
        self._write((self.state.record or RunRecord(self.run.run_id)).with_stage(stage, entry))

    def accept(self, acceptance: Acceptance) -> None:
        """Record the run as accepted by hand (the new baseline and reference)."""
        record = self.state.record or RunRecord(self.run.run_id)
        self._write(replace(record, acceptance=acceptance, updated_at=now_utc()))

    def pruned(self, pruning: Pruning) -> None:
        """Record the run's pruning: before its first file goes, and again once the last one has."""
        record = self.state.record or RunRecord(self.run.run_id)
        self._write(replace(record, pruning=pruning, updated_at=now_utc()))

    def trained(self, results: Sequence[TrainResult]) -> None:
        """The seeds' metrics.json as their training wrote them."""
        done = [
            replace(self.state.seed(r.seed), metrics=r.metrics, checkpoint=None) for r in results if r.metrics
        ]
        self.state = self.state.with_seeds(*done)
        self.wrote = self.wrote or any(r.status in ("trained", "resumed") for r in results)

    def scored(self, results: Sequence[ScoreResult], evaluation: bool = True) -> None:
        """The partitions' markers as their scoring committed them (the run's evaluation only is state)."""
        if any(r.marker is not None for r in results):
            self.wrote = True
        if evaluation:
            marked = [replace(self.state.seed(r.seed), marker=r.marker) for r in results if r.marker]
            self.state = self.state.with_seeds(*marked)

    def summarised(self, summary: RunSummary) -> None:
        """The summary the summary stage wrote."""
        self.state = self.state.with_summary(summary)
        self.wrote = True

    @contextlib.contextmanager
    def stage(self, stage: str) -> Iterator[None]:
        """Record in run.json how the stage ended when it did not end well: 'interrupted' when the command
        is stopped inside the block, 'failed' with the reason when it breaks (a bug, storage), even before
        the run was recorded, so that the night reads as what happened to it. A command that wrote nothing
        and was refused (exit 2 or 5) or found no Ray to run on (9: nothing of the run was done) records
        nothing; the nightly's watch tells those ends outside the output.

        The CLI turns SIGTERM into KeyboardInterrupt (what Ray's blocking calls let through), as Ctrl-C is.
        """
        try:
            yield
        except KeyboardInterrupt as exc:
            said = "stopped by SIGTERM" if by_sigterm(exc) else "stopped by Ctrl-C"
            self._ended(stage, "interrupted", said)
            raise
        except Exception as exc:
            not_run = isinstance(exc, LenetError) and exc.exit_code in NOTHING_RAN
            if self.wrote or not not_run:
                self._ended(stage, "failed", " ".join(str(exc).split())[:300] or type(exc).__name__)
            raise

    def _ended(self, stage: str, status: str, reason: str) -> None:
        """The stage's end in run.json (a new record when there is none); a failure to write is logged."""
        if self.state.record is None:
            self.state = self.state.with_record(RunRecord(self.run.run_id, created_at=now_utc()))
        try:
            self.stage_done(stage, StageEntry(status=status, finished_at=now_utc(), reason=reason))
        except LenetError as exc:  # the stop must not wait on, or fail for, the record
            log.warning("could not mark stage %s %s in %s: %s", stage, status, self.run.run_json, exc)

    def _write(self, record: RunRecord) -> None:
        run_record.write_record(self.run, record)
        self.state = self.state.with_record(record)
        self.wrote = True
