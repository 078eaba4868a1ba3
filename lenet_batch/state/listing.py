"""The nights of an output, from their small records only: each run's light state (run.json and
summary.json), newest first in night order (store/runs_index.night_key).

Never a Parquet file, a model or a cluster: listing a thousand nights reads two small JSON files each,
fetched many at a time on object stores. One damaged record never breaks a listing: it is that night's
problem (state/damage.py). Empty folders under runs/ are not nights.
"""

import logging
from dataclasses import replace

from lenet_batch.provenance import now_utc
from lenet_batch.state.damage import checked_summary
from lenet_batch.state.run_state import RunState, light_state
from lenet_batch.store import record_reads, runs_index
from lenet_batch.store.layout import Layout, RunRef
from lenet_batch.store.record_reads import Read, printable

log = logging.getLogger(__name__)


def order_key(state: RunState, unrecorded_now: bool = False) -> tuple[str, str, str]:
    """The night's place in night order (runs_index.night_key); a night not recorded yet is one that
    starts now when `unrecorded_now` (tonight's own, before its run.json is written)."""
    created = state.record.created_at if state.record else (now_utc() if unrecorded_now else None)
    return runs_index.night_key(state.run_id, created)


def _records(layout: Layout, refs: list[RunRef], reads: dict[str, Read]) -> tuple[list[RunState], int]:
    """Each run folder's state from its run.json alone (empty folders left out), and how many were empty."""
    absent = {r.run_dir: r.run_id for r in refs if reads[r.run_json] == (None, None)}
    empty = {absent[uri] for uri in record_reads.empty_folders(absent, layout.options)}
    states = []
    for ref in refs:
        if ref.run_id not in empty:
            states.append(light_state(ref, reads[ref.run_json], (None, None), _named(ref.run_id)))
    return states, len(empty)


def _with_summaries(layout: Layout, states: list[RunState], runs: dict[str, Read]) -> list[RunState]:
    """The states again with their summary.json (read many at once)."""
    reads = record_reads.read_small_many([s.run.summary_json for s in states], layout.options)
    return [
        light_state(s.run, runs[s.run.run_json], reads[s.run.summary_json], _named(s.run_id)) for s in states
    ]


def read_nights(
    layout: Layout,
    last: int | None = None,
    summaries: bool = True,
    warn: bool = True,
    skip: str | None = None,
) -> list[RunState]:
    """Every night (or the `last` newest) with its run.json and summary.json, newest first; each damaged
    night's problems, and how many empty folders were left out, said in one line each when `warn`.
    `skip`: a night whose state the caller holds already (its records are not read)."""
    refs = [layout.run(name) for name in runs_index.run_ids(layout) if name != skip]
    reads = record_reads.read_small_many([r.run_json for r in refs], layout.options)
    states, n_empty = _records(layout, refs, reads)
    states.sort(key=order_key, reverse=True)
    states = states[:last] if last is not None else states
    if summaries:
        states = _with_summaries(layout, states, reads)
    if warn:
        for state in states:
            if state.problems:
                log.warning("run %s is damaged: %s", printable(state.run_id), "; ".join(state.problems))
        if n_empty:
            log.warning("%d empty folder(s) under %s left out: not runs", n_empty, layout.runs_root())
    return states


def _named(run_id: str) -> tuple[str, ...]:
    """The folder name's problem, if it is not a run id."""
    named = runs_index.name_problem(run_id)
    return (printable(named),) if named else ()


def newest_run_id(layout: Layout) -> str | None:
    """The newest night in night order (by date, no record read, when every run id is a date)."""
    ids = runs_index.run_ids(layout)
    if ids and all(runs_index.is_date_id(i) for i in ids):
        for run_id in sorted(ids, reverse=True):  # empty folders are not nights
            if not record_reads.empty_folders([layout.run(run_id).run_dir], layout.options):
                return run_id
        return None
    states = read_nights(layout, summaries=False, warn=False)
    return states[0].run_id if states else None


class Nights:
    """The other nights of an output as one command sees them, each record read at most once: every
    run.json when made, a summary.json when first asked for (the baseline search), the rest together
    when every night is wanted (the history)."""

    def __init__(self, layout: Layout, skip: str | None = None, states: list[RunState] | None = None) -> None:
        """`states`: the nights as already read with their summaries (then nothing is read)."""
        self.layout = layout
        read = states is not None
        states = states if states is not None else read_nights(layout, summaries=False, warn=False, skip=skip)
        self._states = {s.run_id: s for s in states if s.run_id != skip}
        self._read: set[str] = set(self._states) if read else set()  # summary.json read (or found absent)

    def without_summaries(self) -> list[RunState]:
        """Every night, newest first, with only its run.json read."""
        return sorted(self._states.values(), key=order_key, reverse=True)

    def with_summary(self, run_id: str) -> RunState:
        """One night with its summary.json (read now unless it was)."""
        if run_id not in self._read:
            self._fill([run_id])
        return self._states[run_id]

    def all(self) -> list[RunState]:
        """Every night with its summary.json, newest first (those not read yet, many at once); each damaged
        one said in one line."""
        self._fill([i for i in self._states if i not in self._read])
        nights = self.without_summaries()
        for night in (n for n in nights if n.problems):
            log.warning("run %s is damaged: %s", printable(night.run_id), "; ".join(night.problems))
        return nights

    def newest(self, tonight: RunState) -> str:
        """The newest night's id, tonight's among them (nothing is read)."""
        return max([*self._states.values(), tonight], key=order_key).run_id

    def _fill(self, run_ids: list[str]) -> None:
        states = [self._states[i] for i in run_ids]
        reads = record_reads.read_small_many([s.run.summary_json for s in states], self.layout.options)
        for state in states:
            checked, problem = checked_summary(
                state.run.summary_json, state.run_id, reads[state.run.summary_json]
            )
            problems = state.problems + ((printable(problem),) if problem else ())
            self._states[state.run_id] = replace(state, summary=checked, problems=problems)
            self._read.add(state.run_id)
