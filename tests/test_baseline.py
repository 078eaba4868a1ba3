"""The default baseline (the previous completed run) and the reasons given when there is none."""

import json

import numpy as np
import pytest

from lenet_batch.errors import DataError, RegressionDetected
from lenet_batch.pipeline.hand_summary import summarise
from lenet_batch.state.run_state import read_state
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from lenet_batch.summary import baseline, report
from tests import helpers
from tests.history_helpers import scored_run, summary_json

ACCURACIES = np.array([0.88, 0.87, 0.89])


def write_run(
    layout: Layout, run_id: str, day: int, summary: str | None = "complete", train="complete"
) -> None:
    """run.json of a run started on day `day`, its summary stage in the given state (+ summary.json)."""
    run = layout.run(run_id)
    stages = {"train": {"status": train}, "infer": {"status": "complete"}}
    if summary:
        stages["summary"] = {"status": summary}
        storage.write_json_atomic(run.summary_json, summary_json(run_id, [0, 1, 2], ACCURACIES, None))
    record = {"run_id": run_id, "created_at": f"2026-11-{day:02d}T02:00:00Z", "stages": stages}
    storage.write_json_atomic(run.run_json, record)


def previous(layout: Layout, run_id: str) -> tuple[str | None, str]:
    return helpers.previous_run(layout.run(run_id))


def test_previous_is_the_last_run_started_before_not_the_last_by_name(tmp_path):
    layout = Layout(str(tmp_path))
    write_run(layout, "zeta", 1)
    write_run(layout, "alpha", 2)  # a later nightly with a new run id that sorts first by name
    write_run(layout, "mid", 3, summary=None)
    assert previous(layout, "alpha")[0] == "zeta"
    assert previous(layout, "mid") == (
        "alpha",
        "the latest earlier night that passed (or was accepted) on the same test data",
    )
    assert previous(layout, "zeta")[0] is None  # nothing was started before the first


def test_runs_started_later_do_not_change_an_earlier_runs_baseline(tmp_path):
    layout = Layout(str(tmp_path))
    write_run(layout, "n1", 1)
    write_run(layout, "n2", 2)
    write_run(layout, "n3", 3)  # a later night: rerunning n2's summary must still compare with n1
    assert previous(layout, "n2")[0] == "n1"


def test_the_first_run_says_it_is_the_first(tmp_path):
    layout = Layout(str(tmp_path))
    write_run(layout, "only", 1, summary=None)
    assert previous(layout, "only") == (None, "no earlier run in this output: only is the first")


@pytest.mark.parametrize(
    "earlier, reason",
    [
        ([("a", "regressed", "complete")], "1 regressed (a)"),
        (
            [("a", "regressed", "complete"), ("b", "regressed", "complete")],
            "none of the 2 earlier run(s) completed its summary: 2 regressed (b, a)",
        ),
        ([("a", None, "failed")], "1 failed in train (a)"),
        ([("a", None, "complete")], "1 never summarised (a)"),
        (
            [("a", "regressed", "complete"), ("b", None, "failed"), ("c", None, "complete")],
            "3 earlier run(s) completed its summary: 1 never summarised (c); 1 failed in train (b); "
            "1 regressed (a)",
        ),
    ],
    ids=["previous-regressed", "all-regressed", "failed-in-train", "never-summarised", "a-mix"],
)
def test_no_baseline_says_what_became_of_the_earlier_runs(tmp_path, earlier, reason):
    layout = Layout(str(tmp_path))
    for day, (run_id, summary, train) in enumerate(earlier, start=1):
        write_run(layout, run_id, day, summary=summary, train=train)
    write_run(layout, "tonight", 9, summary=None)
    base_id, why = previous(layout, "tonight")
    assert base_id is None and reason in why


def test_a_completed_run_without_its_summary_json_is_skipped_and_named(tmp_path):
    layout = Layout(str(tmp_path))
    write_run(layout, "a", 1)
    write_run(layout, "b", 2)
    storage.remove(layout.run("b").summary_json)
    write_run(layout, "tonight", 3, summary=None)
    assert previous(layout, "tonight")[0] == "a"
    storage.remove(layout.run("a").summary_json)
    assert "2 summary.json missing (b, a)" in previous(layout, "tonight")[1]


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_text("{truncated"),
        lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "per_seed": "none"})),
        lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "across_seeds": {"mean": 10**400}})),
        lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "across_seeds": {}})),
        lambda p: (p.unlink(), p.mkdir()),
    ],
    ids=["truncated", "wrong shape", "huge number", "no mean", "a folder"],
)
def test_a_damaged_summary_is_passed_over_as_a_baseline_and_named(tmp_path, damage, caplog):
    layout = Layout(str(tmp_path))
    write_run(layout, "a", 1)
    write_run(layout, "b", 2)
    damage(tmp_path / "runs" / "b" / "summary" / "summary.json")
    write_run(layout, "tonight", 3, summary=None)
    assert previous(layout, "tonight")[0] == "a"  # b is passed over, not the end of tonight's gate
    assert "run b is not a baseline: " in caplog.text
    storage.remove(layout.run("a").summary_json)
    base_id, why = previous(layout, "tonight")
    assert base_id is None and "1 summary.json damaged (b)" in why and "1 summary.json missing (a)" in why
    with pytest.raises(DataError, match="--baseline b: .*summary.json.*summarise run b again"):
        baseline.load_baseline(read_state(layout.run("tonight")), "b")  # named by hand: said, not skipped


def test_an_unreadable_run_json_is_named_not_fatal(tmp_path):
    layout = Layout(str(tmp_path))
    write_run(layout, "a", 1)
    (tmp_path / "runs" / "b").mkdir()
    (tmp_path / "runs" / "b" / "run.json").write_text("{truncated")
    write_run(layout, "tonight", 3, summary=None)
    # b has no readable created_at: it sorts before every dated run, and is reported as unreadable
    assert previous(layout, "tonight")[0] == "a"
    storage.remove(layout.run("a").run_json)
    base_id, why = previous(layout, "tonight")
    assert base_id is None and "2 without a readable run.json (b, a)" in why


@pytest.mark.parametrize("value", ["none", ""])
def test_baseline_none_compares_with_nothing_and_says_so(tmp_path, value):
    layout = Layout(str(tmp_path))
    write_run(layout, "a", 1)
    write_run(layout, "b", 2, summary=None)
    chosen = baseline.load_baseline(read_state(layout.run("b")), value)
    assert chosen.run_id is None and chosen.summary is None and "--baseline none" in chosen.reason


def test_a_first_run_reports_gate_not_applicable_rather_than_passed(tmp_path):
    layout = Layout(str(tmp_path))
    scored_run(layout, "first", 1, [0.80, 0.82, 0.81])
    doc = summarise(layout.run("first"))
    line = report.comparison_line(doc)
    assert line == "gate: n/a (no baseline): no earlier run in this output: first is the first"
    folder = tmp_path / "runs" / "first" / "summary"
    for name in ("report.md", "report.html"):
        text = (folder / name).read_text()
        assert "n/a (no baseline)" in text and "gate: passed" not in text, name
    stage = storage.read_json(layout.run("first").run_json)["stages"]["summary"]
    assert stage["verdict"] == "n/a" and stage["baseline_run_id"] is None


def test_summarising_again_reproduces_the_baseline_and_the_verdict(tmp_path):
    layout = Layout(str(tmp_path))
    scored_run(layout, "mon", 1, [0.95, 0.94, 0.955])
    summarise(layout.run("mon"))
    scored_run(layout, "tue", 2, [0.50, 0.52, 0.51])
    seen = []
    for _ in range(2):  # as the nightly, then by hand with the same defaults
        with pytest.raises(RegressionDetected, match="Welch one-sided t-test") as caught:
            summarise(layout.run("tue"))
        written = json.loads((tmp_path / "runs/tue/summary/summary.json").read_text())["comparison"]
        seen.append((str(caught.value), written["baseline_run_id"], written["verdict"], written["sentence"]))
    assert seen[0] == seen[1] and seen[0][1:3] == ("mon", "regressed")
