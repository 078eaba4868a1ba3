"""What changed, as the gate records it and the watch tells it (pure): a change of the machine's ISA class
alone is named; the monitor's line, the webhook's `changes` and text, and the metrics say what changed (or
that nothing recorded did) rather than the gate's whole sentence.

The real nightly pair (another --lr) is tests/test_monitor_nightly.py's and tests/test_sealed_runs.py's.
"""

import dataclasses

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lenet_batch.monitor import health, metrics, notify
from lenet_batch.provenance import Machine
from lenet_batch.state.night import NightStatus, night_status
from lenet_batch.state.outcome import AttemptEnd
from lenet_batch.state.run_state import RunState
from lenet_batch.store.layout import RunRef
from lenet_batch.store.run_record import RunRecord
from lenet_batch.summary import gate
from lenet_batch.summary.report_sections import changes_line
from lenet_batch.summary.types import Change, RunSummary
from tests.history_helpers import run_json
from tests.test_gate import summary_of
from tests.test_sealed_units import with_metadata

AVX512 = Machine(cpu_model="AMD EPYC", isa="avx512_core_vnni", isa_class="avx512_core", omp_num_threads="1")


def nights(machine_tonight: Machine | None, machine_before: Machine | None) -> RunSummary:
    """Tonight (collapsed) gated against a good baseline; both runs recorded alike but for the machine."""
    base = with_metadata(summary_of([0.88, 0.885, 0.89], run_id="base"), machine=machine_before)
    current = with_metadata(summary_of([0.50, 0.52, 0.51]), machine=machine_tonight)
    return dataclasses.replace(current, comparison=gate.compare(current, base))


def told(summary: RunSummary) -> tuple[NightStatus, notify.Notice]:
    """The night as `check` reads it and as the webhook is told it."""
    kind = "regressed" if summary.comparison and summary.comparison.regressed else "ok"
    record = RunRecord.from_json(run_json(summary.run_id, 0, list(summary.seeds), kind))
    night = night_status(RunState(RunRef("/out", summary.run_id), record, summary))
    end = AttemptEnd(summary.run_id, night.outcome, 4 if kind == "regressed" else 0)
    return night, notify.notice_of(night, end, "/out", "/out/history/history.html")


def test_a_changed_isa_class_alone_is_named_beside_the_verdict():
    summary = nights(dataclasses.replace(AVX512, isa="avx2", isa_class="avx2"), AVX512)
    cmp = summary.comparison
    assert cmp.changes == (Change("isa_class", "avx512_core", "avx2"),)
    assert cmp.regressed and cmp.line().endswith("; changed: isa_class avx512_core → avx2")
    assert changes_line(cmp) == "Changed since baseline base: isa_class avx512_core → avx2."
    night, notice = told(summary)
    assert (night.changes, night.changed) == ("isa_class avx512_core → avx2", cmp.changes)
    assert "changed since base: isa_class avx512_core → avx2" in notice.text.splitlines()


@pytest.mark.parametrize(
    "tonight, before",
    [
        (dataclasses.replace(AVX512, cpu_model="Intel Xeon", isa="avx512_core_amx"), AVX512),  # same class
        (dataclasses.replace(AVX512, omp_num_threads="2"), AVX512),  # threads are not compared
        (AVX512, None),  # a baseline that recorded no machine (summary.json before v3)
    ],
    ids=["other-cpu-same-class", "other-threads", "baseline-without-machine"],
)
def test_a_machine_that_differs_but_not_in_isa_class_is_no_change(tonight, before):
    summary = nights(tonight, before)
    assert summary.comparison.changes == ()
    night, notice = told(summary)
    assert (night.changes, night.changed) == ("nothing recorded changed", ())
    assert "nothing recorded changed since base" in notice.text.splitlines()
    assert notice.changes == "nothing recorded changed"


def test_the_watch_says_what_changed_not_the_gates_sentence():
    summary = nights(AVX512, AVX512)
    lr = Change("lr", "0.1", "0.01")
    cmp = dataclasses.replace(summary.comparison, changes=(lr, Change("seeds", "0-2", "3-5")))
    night, notice = told(dataclasses.replace(summary, comparison=cmp))
    assert night.changes == "lr 0.1 → 0.01, seeds 0-2 → 3-5" and night.gate == cmp.line()
    assert night.reason == "gate: REGRESSED against base: mean 0.8850 → 0.5100 (-0.3750), welch rule"
    assert notice.to_json()["changes"] == "lr 0.1 → 0.01, seeds 0-2 → 3-5"
    lines = notice.text.splitlines()
    assert lines[2:4] == [night.reason, "changed since base: lr 0.1 → 0.01, seeds 0-2 → 3-5"]
    assert not any("Welch" in line or "P(tonight" in line for line in lines)  # the sentence is in `gate`


def test_a_night_without_a_baseline_tells_no_change():
    first = summary_of([0.88, 0.885, 0.89])
    first = dataclasses.replace(first, comparison=gate.compare(first, None, why_none="the first"))
    night, notice = told(first)
    assert night.changes is None and night.changed is None and notice.changes is None
    assert not any("changed" in line for line in notice.text.splitlines())


def gauges(summary: RunSummary) -> dict[str, list]:
    """The metrics of an output whose newest night is this one, through prometheus_client's parser."""
    night, _ = told(summary)
    found = health.Health("/out", "regressed", 4, "", "2026-01-01T00:00:00Z", 3600.0, night=night)
    return {f.name: f.samples for f in text_string_to_metric_families(metrics.render(found))}


def test_the_metrics_count_the_changes_and_name_each():
    changed = gauges(nights(dataclasses.replace(AVX512, isa="avx2", isa_class="avx2"), AVX512))
    (count,) = changed["lenet_batch_changes"]
    assert count.value == 1 and count.labels == {"output": "/out", "run_id": "tonight"}
    (info,) = changed["lenet_batch_change_info"]
    assert info.value == 1 and info.labels == {
        "output": "/out",
        "run_id": "tonight",
        "baseline_run_id": "base",
        "key": "isa_class",
        "baseline": "avx512_core",
        "current": "avx2",
    }
    same = gauges(nights(AVX512, AVX512))
    assert same["lenet_batch_changes"][0].value == 0 and "lenet_batch_change_info" not in same
    first = summary_of([0.88, 0.885, 0.89])
    none = gauges(dataclasses.replace(first, comparison=gate.compare(first, None, why_none="the first")))
    assert "lenet_batch_changes" not in none and "lenet_batch_change_info" not in none
