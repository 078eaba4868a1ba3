"""A run stands behind its numbers (issue 20), the pure parts: night order and the backfilled night's
baseline, the baseline on the same test data, the separation rule at 2 and 3 seeds a side, "not comparable",
what changed, intervals at 1, 2 and 3 seeds, and summary.json of version 1 read by this version."""

import dataclasses
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from lenet_batch.config import GateRule
from lenet_batch.history.stage import list_runs
from lenet_batch.provenance import Machine
from lenet_batch.records import DataInfo, GitCommit, digest_of_test_split
from lenet_batch.state.night import NightStatus, night_status
from lenet_batch.state.run_state import RunState
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from lenet_batch.store.runs_index import night_key
from lenet_batch.summary import gate
from lenet_batch.summary.report import headline_line, interval_text
from lenet_batch.summary.report_render import render_markdown
from lenet_batch.summary.statistics import ACCURACY_BOUNDS, spread
from lenet_batch.summary.types import (
    SCHEMA_VERSION,
    Interval,
    RunMetadata,
    RunSummary,
    ScoredInput,
    VersionRow,
)
from tests import helpers
from tests.history_helpers import run_json, summary_json
from tests.test_gate import summary_of

DATA = Path(__file__).parent / "data"
TEST_A = {"test_images": "a" * 64, "test_labels": "b" * 64}
TEST_B = {"test_images": "c" * 64, "test_labels": "b" * 64}


ACCURACIES = np.array([0.88, 0.87, 0.89])


def record(layout: Layout, run_id: str, created: str, summary: str | None = "complete", test=TEST_A) -> None:
    """run.json started at `created` on test data `test`, its summary in the given state (+ summary.json)."""
    run = layout.run(run_id)
    doc = run_json(run_id, 0, [0, 1, 2], "ok" if summary else "incomplete")
    doc["created_at"], doc["data"]["sha256"] = created, test
    if summary:
        doc["stages"]["summary"] = {"status": summary}
        storage.write_json_atomic(run.summary_json, summary_json(run_id, [0, 1, 2], ACCURACIES, None))
    storage.write_json_atomic(run.run_json, doc)


# --- 5. nights in night order ------------------------------------------------------------------------------


def test_date_ids_are_nights_of_their_date_and_other_ids_sort_by_start_time():
    runs = {
        "2026-12-02": "2026-12-02T02:00:00Z",
        "2026-12-01": "2026-12-03T09:00:00Z",  # backfilled two days later
        "adhoc": "2026-12-01T10:00:00Z",
        "2026-12-03": "2026-12-03T02:00:00Z",
        "2026-13-01": "2026-11-01T00:00:00Z",  # not a date: by its start time
        "unreadable": "",
    }
    ordered = sorted(runs, key=lambda r: night_key(r, runs[r]))
    assert ordered == ["unreadable", "2026-13-01", "2026-12-01", "adhoc", "2026-12-02", "2026-12-03"]


def test_a_backfilled_night_is_compared_with_the_night_before_it(tmp_path):
    layout = Layout(str(tmp_path))
    record(layout, "2026-11-30", "2026-11-30T02:00:00Z")
    record(layout, "2026-12-02", "2026-12-02T02:00:00Z")
    record(layout, "2026-12-01", "2026-12-03T09:00:00Z", summary=None)  # started after 12-02
    assert helpers.previous_run(layout.run("2026-12-01"))[0] == "2026-11-30"
    # the history, runs.parquet and `runs` list the nights in the same order, newest first
    assert [r.run_id for r in list_runs(layout)] == ["2026-12-02", "2026-12-01", "2026-11-30"]


def test_the_default_baseline_is_the_nearest_earlier_night_on_the_same_test_data(tmp_path):
    layout = Layout(str(tmp_path))
    record(layout, "n1", "2026-12-01T02:00:00Z")
    record(layout, "n2", "2026-12-02T02:00:00Z", test=TEST_B)  # a night on other test data
    record(layout, "n3", "2026-12-03T02:00:00Z", summary=None)
    assert helpers.previous_run(layout.run("n3")) == (
        "n1",
        "the latest earlier night that passed (or was accepted) on the same test data",
    )
    storage.remove(layout.run("n1").run_json)
    storage.remove(layout.run("n1").summary_json, recursive=False)
    base_id, why = helpers.previous_run(layout.run("n3"))
    assert (
        base_id is None
        and f"1 on other test data than {digest_of_test_split(DataInfo(sha256=TEST_A))} (n2)" in why
    )


# --- 7. a gate that never calls a collapse noise -----------------------------------------------------------


def welch_p(current, base) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stats.ttest_ind(current, base, equal_var=False, alternative="less").pvalue


@pytest.mark.parametrize(
    "current, base",
    [
        ([0.05, 0.236], [0.55, 0.786]),  # the 0.668 -> 0.143 at 2 seeds a side
        ([0.10, 0.30, 0.45], [0.50, 0.70, 0.90]),  # 3 seeds a side
    ],
    ids=["2-seeds", "3-seeds"],
)
def test_every_seed_below_every_baseline_seed_and_a_large_drop_regress_whatever_p_says(current, base):
    assert welch_p(current, base) > 0.01  # Welch alone would call it seed noise
    cmp = gate.compare(summary_of(current), summary_of(base, run_id="base"), GateRule())
    assert cmp.regressed and cmp.verdict == "regressed" and cmp.applied_rule == "separation"
    assert "every seed is below every seed of the baseline" in cmp.sentence
    assert "regression whatever p says" in cmp.sentence and cmp.test is not None


@pytest.mark.parametrize(
    "current, base, why",
    [
        ([0.869, 0.8695], [0.8705, 0.871], "separated, but the drop is within max drop"),
        ([0.05, 0.60], [0.55, 0.786], "a large drop, but one seed beats a baseline seed"),
        ([0.10, 0.30, 0.60], [0.50, 0.70, 0.90], "3 seeds, overlapping"),
    ],
)
def test_the_separation_rule_needs_both_separation_and_a_drop_beyond_max_drop(current, base, why):
    cmp = gate.compare(summary_of(current), summary_of(base, run_id="base"), GateRule())
    assert welch_p(current, base) > 0.01 and not cmp.regressed and cmp.applied_rule == "welch", why


def scored_on(summary: RunSummary, digest: str) -> RunSummary:
    return dataclasses.replace(summary, scored=ScoredInput("fashion-mnist:test", "/data", digest, 100))


def test_runs_on_different_test_data_are_not_compared():
    current = scored_on(summary_of([0.10, 0.12]), "111111111111")
    base = scored_on(summary_of([0.88, 0.89], run_id="base"), "222222222222")
    cmp = gate.compare(current, base)
    assert cmp.verdict == "not comparable" and not cmp.regressed and cmp.test is None
    assert cmp.line().startswith(
        "gate: not comparable: test data 111111111111 vs 222222222222 of baseline base"
    )
    failed = gate.compare(dataclasses.replace(current, failed_seeds=(3,)), base)
    assert failed.regressed and "1 seed(s) failed: [3]" in failed.line()  # failed seeds still regress


# --- 6. what changed ---------------------------------------------------------------------------------------


def with_metadata(summary: RunSummary, **changes) -> RunSummary:
    meta = RunMetadata(
        recipe={"epochs": 10, "batch_size": 256, "lr": 0.1},
        seeds="0-2",
        data=DataInfo("/data", {**TEST_A, "train_images": "e" * 64}, True),
        versions=(VersionRow("mxnet", "1.9.1"), VersionRow("lenet_batch", "0.1.0")),
        git=GitCommit("0123456789abcdef0123456789abcdef01234567", False),
        machine=Machine(isa="avx512_core_vnni", isa_class="avx512_core"),
    )
    return dataclasses.replace(summary, run_metadata=dataclasses.replace(meta, **changes))


def test_every_recorded_difference_is_named_in_the_gate_sentence():
    base = with_metadata(summary_of([0.88, 0.885, 0.89], run_id="base"))
    current = with_metadata(
        summary_of([0.50, 0.52, 0.51]),
        recipe={"epochs": 5, "batch_size": 256, "lr": 0.01},
        seeds="3-5",
        data=DataInfo("/data", {**TEST_A, "train_images": "f" * 64}, True),
        versions=(VersionRow("mxnet", "1.9.0"), VersionRow("lenet_batch", "0.1.0")),
        git=GitCommit("fedcba9876543210fedcba9876543210fedcba98", True),
        machine=Machine(isa="avx2", isa_class="avx2"),
    )
    cmp = gate.compare(current, base)
    assert [c.text() for c in cmp.changes] == [
        "epochs 10 → 5",
        "lr 0.1 → 0.01",
        f"data train_images {'e' * 12} → {'f' * 12}",
        "mxnet 1.9.1 → 1.9.0",
        "git commit 0123456789ab → fedcba987654",
        "git tree dirty false → true",
        "seeds 0-2 → 3-5",
        "isa_class avx512_core → avx2",
    ]
    assert cmp.regressed and "; changed: epochs 10 → 5, lr 0.1 → 0.01, " in cmp.line()


def test_a_regression_with_nothing_recorded_changed_says_so():
    cmp = gate.compare(with_metadata(summary_of([0.50, 0.52, 0.51])), with_metadata(summary_of([0.88] * 3)))
    assert cmp.regressed and cmp.changes == ()
    assert cmp.line().endswith("; nothing recorded changed: look at the environment")
    passed = gate.compare(with_metadata(summary_of([0.88, 0.89])), with_metadata(summary_of([0.88, 0.89])))
    assert passed.line().endswith("; nothing recorded changed")


# --- 8. intervals a person can read ------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[0.81], [0.668, 0.143]], ids=["1-seed", "2-seeds"])
def test_fewer_than_3_seeds_say_too_few_seeds_for_an_interval(values):
    got = spread(values, ACCURACY_BOUNDS)
    assert got.ci95 is None and got.interval() is None
    assert interval_text(got) == "too few seeds for an interval"
    summary = dataclasses.replace(summary_of(values), across_seeds=got)
    assert "(too few seeds for an interval)" in headline_line(summary)
    row = run_row_of(summary)
    assert (row.ci95_low, row.ci95_high) == (None, None)


def run_row_of(summary: RunSummary) -> NightStatus:
    from lenet_batch.store.layout import RunRef
    from lenet_batch.store.run_record import RunRecord

    return night_status(RunState(RunRef("/out", summary.run_id), RunRecord(summary.run_id), summary))


def test_an_interval_past_a_bound_is_cut_there_and_says_so():
    got = spread([0.999, 1.0, 0.97], ACCURACY_BOUNDS)
    assert got.ci95.high == 1.0 and got.ci95_clipped and got.ci95.low > 0.9
    assert interval_text(got) == f"95% CI [{got.ci95.low:.4f}, 1.0000], clipped at 1"
    seconds = spread([1.0, 30.0, 2.0], (0.0, None))
    assert seconds.ci95.low == 0.0 and seconds.ci95.high > 30 and seconds.ci95_clipped


def test_an_interval_is_written_in_brackets_never_with_a_hyphen():
    summary = dataclasses.replace(summary_of([0.8773, 0.8810, 0.8847]))
    summary = dataclasses.replace(summary, across_seeds=spread([0.8773, 0.8810, 0.8847], ACCURACY_BOUNDS))
    line = headline_line(summary)
    assert re.search(r"\(95% CI \[0\.\d{4}, 0\.\d{4}\]\)", line) and not re.search(r"\d-\d", line)


# --- summary.json of every version reads -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["summary_v1_first.json", "summary_v1_regressed.json"])
def test_a_version_1_summary_reads_and_renders_with_this_version(name):
    doc = json.loads((DATA / name).read_text())
    summary = RunSummary.from_json(doc)
    assert summary.schema_version == 1 and SCHEMA_VERSION == 4 and summary.scored is None
    assert summary.comparison.changes is None and summary.run_metadata.machine is None
    assert summary.across_seeds.interval() == summary.across_seeds.ci95  # 3 seeds: shown as written
    assert "## Headline" in render_markdown(summary, {})
    row = run_row_of(summary)
    assert row.verdict == doc["comparison"]["verdict"] and row.changed is None
    # a version-3 night compared with a version-1 baseline: its test split from the run metadata
    tonight = dataclasses.replace(summary, run_id="tonight", schema_version=SCHEMA_VERSION)
    cmp = gate.compare(tonight, summary)
    assert cmp.verdict in ("passed", "regressed", "inconclusive") and cmp.changes == ()
    again = RunSummary.from_json(
        json.loads(json.dumps(dataclasses.replace(tonight, comparison=cmp).to_json()))
    )
    assert again.comparison == cmp and again.schema_version == SCHEMA_VERSION


def test_an_older_summarys_interval_past_0_or_1_is_cut_in_the_history():
    summary = summary_of([0.10, 0.95, 0.99])
    wide = dataclasses.replace(summary.across_seeds, ci95=Interval(-0.12, 1.31))  # as version 2 wrote it
    row = run_row_of(dataclasses.replace(summary, across_seeds=wide))
    assert (row.ci95_low, row.ci95_high) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("low", "high", "clipped", "shown"),
    [
        (0.0, 0.767, True, "[0.0000, 0.7670] clipped at 0"),
        (0.91, 1.0, True, "[0.9100, 1.0000] clipped at 1"),
        (0.5993, 0.7807, False, "[0.5993, 0.7807]"),
    ],
)
def test_the_runs_table_says_where_an_interval_was_cut(low, high, clipped, shown, capsys):
    from lenet_batch.cli import output

    row = NightStatus(
        "n3",
        "regressed",
        created_at="2026-12-02T00:00:00Z",
        seeds_ok=3,
        mean_accuracy=0.3,
        ci95_low=low,
        ci95_high=high,
        ci95_clipped=clipped,
        ensemble_accuracy=0.4,
        verdict="regressed",
        gate="gate: REGRESSED",
        baseline_run_id="n2",
    )
    output.print_runs([row])
    line = capsys.readouterr().out.splitlines()[1]
    assert shown in line and (("clipped" in line) == clipped)
