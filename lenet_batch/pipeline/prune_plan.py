"""What `lenet-batch prune` removes, decided from the nights' light states (pure: nothing is read here).

--keep 90d keeps the nights of the last 90 days (a date run id's age is its date's, in whole days: the night
90 days ago stays, the one 91 days ago goes; another run's is its created_at's); --keep N keeps the N newest
nights in night order. Of each older night the predictions, models and logs go; its records stay
(run.json, summary/, the seeds' metrics.json), so that `runs`, `check`, the history and the baseline search
read every night as before. Never pruned, whatever its age (PROTECTED, with why): the newest night, the
baseline and the reference night the next night compares with and those the newest night recorded, every
accepted night, and a night a live nightly or hand command is writing (`guarded`, found by the caller). A
night whose records do not read is left alone (SKIP); a pruning recorded but unfinished is finished.
"""

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lenet_batch.errors import ConfigError
from lenet_batch.json_records import JsonRecord
from lenet_batch.provenance import parse_utc
from lenet_batch.state import listing
from lenet_batch.state.run_state import RunState, empty_state
from lenet_batch.store import runs_index
from lenet_batch.summary import baseline

MAX_DAYS, MAX_NIGHTS = 36_500, 100_000  # a hundred years, of days or of nightlies: beyond is a typo
PRUNE, FINISH, PROTECTED, SKIP, KEEP, PRUNED = "prune", "finish", "protected", "skip", "keep", "pruned"
GOING = (PRUNE, FINISH)  # what a prune removes files of
NEXT_NIGHT = ".next"  # a night starting now (a hidden name: never a run folder), for its baseline search


@dataclass(frozen=True)
class Keep(JsonRecord):
    """The window of `--keep`: the last `days` days, or the `nights` newest nights."""

    text: str
    days: int | None = None
    nights: int | None = None


def parse_keep(text: str) -> Keep:
    """--keep 90d (days) or 30 (nights); ConfigError (exit 2) for anything else, 0 or over a hundred years."""
    m = re.fullmatch(r"([0-9]{1,12})(d?)", text)
    if not m:
        raise ConfigError(f"--keep {text!r}: give the days to keep (90d) or the number of nights (30)")
    value, days = int(m.group(1)), bool(m.group(2))
    limit = MAX_DAYS if days else MAX_NIGHTS
    if not 1 <= value <= limit:
        unit = "d" if days else " nights"
        raise ConfigError(f"--keep {text!r}: keep between 1 and {limit}{unit}")
    return Keep(text, days=value) if days else Keep(text, nights=value)


@dataclass(frozen=True)
class NightPrune(JsonRecord):
    """One night's fate: its action (prune, finish, protected, skip, keep, pruned) and why; what goes of it
    (files, bytes and the folders or files they are in) once the caller has looked."""

    run_id: str
    action: str
    reason: str
    files: int | None = None
    bytes: int | None = None
    paths: tuple[str, ...] = ()

    @property
    def goes(self) -> bool:
        """Its predictions, models and logs are (to be) removed now."""
        return self.action in GOING


def age_days(night: RunState, now: dt.datetime) -> float | None:
    """The night's age in days: whole days since a date run id's date, else since created_at (None:
    unknown)."""
    if runs_index.is_date_id(night.run_id):
        return float((now.date() - dt.date.fromisoformat(night.run_id)).days)
    created = parse_utc(night.record.created_at if night.record else None)
    return None if created is None else (now - created).total_seconds() / 86400


def _window(night: RunState, index: int, keep: Keep, now: dt.datetime) -> tuple[str, str]:
    """(KEEP, why) for a night inside the window, (PRUNE, why) for one outside, (SKIP, why) when unknown."""
    if keep.nights is not None:
        if index < keep.nights:
            return KEEP, f"among the {keep.nights} newest nights"
        return PRUNE, f"older than the {keep.nights} newest nights"
    age = age_days(night, now)
    if age is None:
        return SKIP, "its age is unknown (no date run id, no readable created_at): left as it is"
    said = f"{age:.0f} day(s) old"
    return (KEEP, f"{said}, within --keep {keep.text}") if age <= (keep.days or 0) else (PRUNE, said)


def _compared(nights: Sequence[RunState], window: int) -> dict[str, dict[str, list[str]]]:
    """The nights compared with: by the next night (baseline and reference, as the nightly would search
    them now) and by the newest night (as its summary recorded them); night -> whose -> roles."""
    newest, layout = nights[0], nights[0].run.layout
    nxt = baseline.previous(
        empty_state(layout.run(NEXT_NIGHT)), listing.Nights(layout, states=list(nights)), window
    )
    cmp = newest.summary.comparison if newest.summary else None
    pairs = [
        (nxt.run_id, "the next night's", "baseline"),
        (nxt.reference.run_id if nxt.reference else None, "the next night's", "reference"),
        (cmp.baseline_run_id if cmp else None, f"{newest.run_id}'s", "baseline"),
        (cmp.reference.run_id if cmp and cmp.reference else None, f"{newest.run_id}'s", "reference"),
    ]
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for run_id, whose, role in pairs:
        if run_id:
            found[run_id][whose].append(role)
    return found


def protections(nights: Sequence[RunState], window: int) -> dict[str, list[str]]:
    """Why each protected night is never pruned: the newest, the baselines and references of the next
    night and of the newest one, every accepted night (`nights`: newest first, with their summaries)."""
    found: dict[str, list[str]] = defaultdict(list)
    if not nights:
        return found
    found[nights[0].run_id].append("the newest night")
    for run_id, by in _compared(nights, window).items():
        found[run_id] += [f"{whose} {' and '.join(roles)}" for whose, roles in by.items()]
    for night in nights:
        accepted = night.record.acceptance if night.record else None
        if accepted is not None:
            found[night.run_id].append(f"accepted by {accepted.by} ({accepted.at[:10]}): {accepted.reason}")
    return found


def _fate(night: RunState, window: tuple[str, str], protected: list[str], guard: str | None) -> NightPrune:
    """One night's action and why, from its window's verdict, its protections and a live writer."""
    rid, pruning = night.run_id, night.record.pruning if night.record else None
    if pruning is not None and pruning.finished_at:
        return NightPrune(rid, PRUNED, f"pruned {pruning.finished_at} (--keep {pruning.keep})")
    if night.problems or night.record is None:
        why = "; ".join(night.problems) or "no run.json"
        return NightPrune(rid, SKIP, f"its records do not read ({why}): left as it is")
    if pruning is not None:  # stopped halfway: only a live writer holds it back
        if guard:
            return NightPrune(rid, PROTECTED, f"{guard}; its unfinished pruning waits for the next prune")
        return NightPrune(rid, FINISH, f"a prune stopped halfway through it ({pruning.started_at})")
    action, why = window
    if action != PRUNE:
        return NightPrune(rid, action, why)
    held = [guard] if guard else []
    if held or protected:
        return NightPrune(rid, PROTECTED, f"{'; '.join(held + protected)} (else it would go: {why})")
    return NightPrune(rid, PRUNE, why)


def decide(
    nights: Sequence[RunState],
    keep: Keep,
    now: dt.datetime,
    guarded: Mapping[str, str] | None = None,
    window: int = 7,
) -> tuple[NightPrune, ...]:
    """Each night's fate, newest first (`nights`: newest first in night order, with their summaries);
    `guarded`: nights a live nightly or hand command is writing, and who; `window`: the reference window."""
    guarded = guarded or {}
    protected = protections(nights, window)
    return tuple(
        _fate(night, _window(night, i, keep, now), protected.get(night.run_id, []), guarded.get(night.run_id))
        for i, night in enumerate(nights)
    )
