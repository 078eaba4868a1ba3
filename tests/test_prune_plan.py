"""What `prune` decides from the nights' records (pipeline/prune_plan.py, pure): the --keep window by days
and by nights, the nights it never prunes and why, and a pruned night refused by every stage's plan."""

import datetime as dt
import json

import pytest

from lenet_batch.config import Recipe
from lenet_batch.errors import ConfigError
from lenet_batch.pipeline import plan, prune_plan
from lenet_batch.pipeline.prune import prune
from lenet_batch.state import listing
from lenet_batch.state.run_state import RunState, read_state
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from lenet_batch.store.run_record import Pruning, RunRecord
from lenet_batch.summary import gate
from lenet_batch.summary.types import RunSummary
from tests.history_helpers import write_synthetic_runs
from tests.prune_helpers import full_nights

NOW = dt.datetime(2026, 12, 6, 18, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "days", "nights"),
    [("90d", 90, None), ("1d", 1, None), ("36500d", 36500, None), ("30", None, 30), ("1", None, 1)],
)
def test_keep_is_days_or_nights(text, days, nights):
    keep = prune_plan.parse_keep(text)
    assert (keep.days, keep.nights, keep.text) == (days, nights, text)


@pytest.mark.parametrize(
    "text", ["0", "0d", "-1", "90x", "", "d", " 5", "5 d", "1e3", "9" * 20, "100001", "36501d", "90D", "٣"]
)
def test_a_bad_keep_is_refused_naming_it(text):
    with pytest.raises(ConfigError, match="--keep") as err:
        prune_plan.parse_keep(text)
    assert "\n" not in str(err.value) and err.value.exit_code == 2


def night(rid: str, created: str | None = "2026-01-01T02:00:00Z", **record) -> RunState:
    return RunState(Layout("/nowhere").run(rid), RunRecord(rid, created_at=created, **record))


def fates(nights: list[RunState], keep: str, **kwargs) -> dict[str, tuple[str, str]]:
    found = prune_plan.decide(nights, prune_plan.parse_keep(keep), NOW, **kwargs)
    return {f.run_id: (f.action, f.reason) for f in found}


def test_days_count_whole_days_from_a_date_id_and_from_created_at_otherwise():
    nights = [
        night("2026-12-06"),
        night("2026-09-07"),  # 90 days before NOW's date: kept
        night("2026-09-06"),  # 91: goes
        night("adhoc-a", created="2026-09-07T17:00:00Z"),  # 90 days and an hour: goes
        night("adhoc-b", created="2026-09-07T19:00:00Z"),  # 89 days and 23 hours: kept
        night("adhoc-c", created="yesterday"),  # no age: left as it is
    ]
    found = fates(nights, "90d")
    assert {k: v[0] for k, v in found.items()} == {
        "2026-12-06": "keep",
        "2026-09-07": "keep",
        "2026-09-06": "prune",
        "adhoc-a": "prune",
        "adhoc-b": "keep",
        "adhoc-c": "skip",
    }
    assert found["2026-09-06"][1] == "91 day(s) old" and "within --keep 90d" in found["2026-09-07"][1]


def test_nights_keep_the_newest_in_the_order_given_and_the_newest_always_stays():
    nights = [night(f"2026-11-{d:02d}") for d in (30, 29, 28, 27)]
    assert [a for a, _ in fates(nights, "2").values()] == ["keep", "keep", "prune", "prune"]
    old = fates(nights, "1d")  # every night is months old: the newest stays all the same
    assert old["2026-11-30"] == ("protected", "the newest night (else it would go: 6 day(s) old)")
    assert [a for a, _ in old.values()][1:] == ["prune"] * 3


def test_pruned_damaged_stopped_and_written_nights():
    stopped = Pruning(keep="5", by="u@h", started_at="2026-12-01T00:00:00Z")
    nights = [
        night("2026-11-30"),
        night("2026-11-29", pruning=Pruning(keep="5", by="u@h", started_at="x", finished_at="y")),
        RunState(Layout("/nowhere").run("2026-11-28"), None, problems=("run.json: not valid JSON",)),
        night("2026-11-27", pruning=stopped),  # finished whatever the window now says
        night("2026-11-26", pruning=stopped),  # ... unless a live writer holds it
        night("2026-11-25"),
    ]
    found = fates(nights, "100", guarded={"2026-11-26": "a hand `infer` is writing it"})
    assert found["2026-11-29"] == ("pruned", "pruned y (--keep 5)")
    assert found["2026-11-28"][0] == "skip" and "not valid JSON" in found["2026-11-28"][1]
    assert found["2026-11-27"][0] == "finish"
    assert found["2026-11-26"][0] == "protected" and "`infer`" in found["2026-11-26"][1]
    assert found["2026-11-25"][0] == "keep"


def _with_reference(output: str, ids: list[str], reference: str) -> None:
    """Judge the newest night again against the one before, with `reference` as its reference night."""
    layout = Layout(output)
    read = {
        r: json.loads(storage.read_bytes(layout.run(r).summary_json)) for r in (ids[-1], ids[-2], reference)
    }
    tonight, before, ref = (RunSummary.from_json(read[r]) for r in (ids[-1], ids[-2], reference))
    read[ids[-1]]["comparison"] = gate.compare(tonight, before, reference=ref).to_json()
    storage.write_json_atomic(layout.run(ids[-1]).summary_json, read[ids[-1]])


def _accept(output: str, rid: str) -> None:
    uri = Layout(output).run(rid).run_json
    doc = json.loads(storage.read_bytes(uri))
    doc["acceptance"] = {"reason": "new recipe", "by": "ops@host", "at": "2026-01-02T09:00:00Z"}
    storage.write_json_atomic(uri, doc)


# (kinds, keep, reference window, change, the night protected, why): nights 0-4 are 2026-01-01..05.
PROTECTIONS = {
    "newest": ({4: "failed"}, "1d", 1, None, 4, "the newest night"),
    "next baseline": ({4: "failed"}, "1", 1, None, 3, "the next night's baseline"),
    "next reference": ({4: "failed"}, "1", 7, None, 0, "the next night's reference"),
    "newest's baseline": ({}, "1", 1, None, 3, "2026-01-05's baseline"),
    "newest's reference": ({}, "1", 1, "reference", 1, "2026-01-05's reference"),
    "accepted": ({}, "1", 1, "accept", 1, "accepted by ops@host (2026-01-02): new recipe"),
}


@pytest.mark.parametrize("member", PROTECTIONS)
def test_each_protection_keeps_its_night_and_says_why(tmp_path, member):
    kinds, keep, window, change, protected, why = PROTECTIONS[member]
    ids = write_synthetic_runs(str(tmp_path), 5, 3, kinds)
    if change == "reference":
        _with_reference(str(tmp_path), ids, ids[protected])
    if change == "accept":
        _accept(str(tmp_path), ids[protected])
    nights = listing.read_nights(Layout(str(tmp_path)))
    found = fates(nights, keep, window=window)
    action, reason = found[ids[protected]]
    assert action == "protected" and why in reason, found
    assert any(a == "prune" for a, _ in found.values()), "the others older than the window go"


def test_a_pruned_night_refuses_every_stage_that_would_do_something(tmp_path):
    full_nights(str(tmp_path), 3, {2: "failed"})  # the newest failed: the baseline (night 1) stays
    prune(Layout(str(tmp_path)), "1", window=1)
    run = Layout(str(tmp_path)).run("2026-01-01")
    state = read_state(run)
    assert state.record is not None and state.record.pruning is not None
    for request in (
        plan.Request(("infer",), None, test_split="c" * 64),
        plan.Request(("train",), (7,), recipe=Recipe(epochs=2)),
        plan.Request(("summary",), None, summary_digest="new"),
    ):
        with pytest.raises(ConfigError, match="run 2026-01-01 was pruned .* use a new --run-id"):
            plan.plan(state, request)
    assert plan.plan(
        state, plan.Request(("train",), (0, 1), recipe=Recipe(epochs=2))
    ).empty  # nothing to do stays nothing to do
