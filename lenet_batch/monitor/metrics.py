"""The output's health as a Prometheus textfile for node_exporter's textfile collector, written by
prometheus_client (write_to_textfile: a temporary file beside it, not named *.prom, then a rename; label
values escaped by its exposition writer).

Every series carries the output; those about one night carry its run_id too (one new series per night).
"""

import datetime as dt
import logging
import os
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from lenet_batch.errors import LenetError
from lenet_batch.monitor.health import STATES, Health
from lenet_batch.provenance import parse_utc
from lenet_batch.state.night import NightStatus
from lenet_batch.state.outcome import OUTCOMES, STAGES, AttemptEnd
from lenet_batch.store import storage
from lenet_batch.store.record_reads import RECORD_LIMIT

log = logging.getLogger(__name__)

PREFIX = "lenet_batch_"
# name -> help text; every family is a gauge
FAMILIES = {
    "health": "1 for the state `lenet-batch check` finds the output in (healthy, stale, failed, "
    "seeds_failed, regressed, running), 0 for the others",
    "last_success_timestamp_seconds": "when the last successful night finished (Unix time; 0: never)",
    "last_run_state": "1 for the newest night's outcome (ok, seeds_failed, regressed, failed, running), "
    "0 for the others",
    "last_run_timestamp_seconds": "when the newest night's run.json was last written (Unix time)",
    "stage_seconds": "wall seconds of each stage of the newest night (train, infer, summary)",
    "seeds": "seeds of the newest night that finished (ok) or failed",
    "mean_accuracy": "mean test accuracy across the newest night's seeds",
    "ensemble_accuracy": "test accuracy of the newest night's ensemble (mean probability across seeds)",
    "gate_p_value": "p-value of the gate's one-sided Welch test against the baseline night",
    "regressed": "1 when the gate found the newest night regressed against its baseline, else 0",
    "changes": "how many recorded keys (recipe, data, versions, commit, seeds, ISA class) of the newest "
    "night differ from its baseline's (0: nothing recorded changed)",
    "change_info": "1 for each recorded key of the newest night that differs from its baseline's, with "
    "its values in the labels baseline and current",
    "last_attempt_timestamp_seconds": "when the last nightly attempt ended, however it ended (Unix time)",
    "last_attempt_exit_code": "the exit code of the last nightly attempt (0 ok, 2 refused, 3 seeds failed, "
    "4 regressed, 5 locked, 8 inconclusive, 9 Ray unavailable, 1 a bug, 130/143 stopped)",
    "last_attempt_outcome": "1 for how the last nightly attempt ended (the outcome of its night, or refused, "
    "locked, interrupted), 0 for the others",
    "check_success": "1 when the last `lenet-batch check` read and judged the output, 0 when it could not",
    "check_timestamp_seconds": "when `lenet-batch check` last wrote this file (Unix time)",
}
CARRIED = ("last_attempt_", "check_")  # families another writer of the file owns: kept as they were

Sample = tuple[str, dict[str, str], float]  # (family, labels, value)


def _night_samples(night: NightStatus, output: str) -> Iterable[Sample]:
    run = {"output": output, "run_id": night.run_id}
    for outcome in OUTCOMES:
        yield "last_run_state", {**run, "state": outcome}, float(night.outcome == outcome)
    updated = parse_utc(night.updated_at)
    if updated is not None:
        yield "last_run_timestamp_seconds", run, updated.timestamp()
    for stage in night.stages:
        if stage.seconds is not None and stage.stage in STAGES:
            yield "stage_seconds", {**run, "stage": stage.stage}, stage.seconds
    yield "seeds", {**run, "status": "ok"}, night.seeds_ok
    yield "seeds", {**run, "status": "failed"}, len(night.failed_seeds)
    numbers = {
        "mean_accuracy": night.mean_accuracy,
        "ensemble_accuracy": night.ensemble_accuracy,
        "gate_p_value": night.p_value,
        "regressed": None if night.regressed is None else float(night.regressed),
    }
    for name, value in numbers.items():
        if value is not None:
            yield name, run, value
    if night.changed is not None and night.baseline_run_id is not None:
        yield "changes", run, len(night.changed)
        against = {**run, "baseline_run_id": night.baseline_run_id}
        for c in night.changed:
            yield (
                "change_info",
                {**against, "key": c.key, "baseline": c.baseline or "", "current": c.current or ""},
                1,
            )


def attempt_samples(end: AttemptEnd, output: str) -> list[Sample]:
    """The last nightly attempt: when it ended, its exit code and its outcome."""
    run = {"output": output, "run_id": end.run_id}
    when = parse_utc(end.finished_at)
    return [
        ("last_attempt_timestamp_seconds", {"output": output}, when.timestamp() if when else 0.0),
        ("last_attempt_exit_code", run, float(end.exit_code)),
        *(("last_attempt_outcome", {**run, "outcome": o}, float(end.outcome == o)) for o in OUTCOMES),
    ]


def check_samples(success: bool, output: str) -> list[Sample]:
    """The check itself: whether it read and judged the output, and when."""
    now = dt.datetime.now(dt.UTC).timestamp()
    return [
        ("check_success", {"output": output}, float(success)),
        ("check_timestamp_seconds", {"output": output}, now),
    ]


def samples(health: Health | None) -> list[Sample]:
    """Every sample the health gives, family by family (none when the output could not be judged)."""
    if health is None:
        return []
    out: list[Sample] = [
        ("health", {"output": health.output, "state": s}, float(health.state == s)) for s in STATES
    ]
    finished = parse_utc(health.last_success.finished_at) if health.last_success else None
    when = finished.timestamp() if finished else 0.0
    out.append(("last_success_timestamp_seconds", {"output": health.output}, when))
    if health.night is not None:
        out += _night_samples(health.night, health.output)
    return out


def families(found: list[Sample]) -> Iterator[GaugeMetricFamily]:
    """The gauges with samples, in FAMILIES' order, each with its help text."""
    by_family: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in found:
        by_family.setdefault(name, []).append((labels, value))
    for name, help_text in FAMILIES.items():
        if name not in by_family:
            continue
        label_names = list(by_family[name][0][0])
        family = GaugeMetricFamily(PREFIX + name, help_text, labels=label_names)
        for labels, value in by_family[name]:
            family.add_metric([str(labels[k]) for k in label_names], float(value))
        yield family


class _Collector:
    """A custom collector of fixed samples (prometheus_client asks it for its families)."""

    def __init__(self, found: list[Sample]) -> None:
        self.found = found

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return families(self.found)


def registry(found: list[Sample]) -> CollectorRegistry:
    """A registry of its own holding the samples' gauges (never the process-wide default registry)."""
    held = CollectorRegistry()
    held.register(_Collector(found))
    return held


def render(health: Health | None, *more: Sample) -> str:
    """The text exposition (format 0.0.4): HELP and TYPE once per family, then its samples."""
    return generate_latest(registry([*samples(health), *more])).decode()


def _carried(path: str, output: str, mine: list[Sample]) -> list[Sample]:
    """The samples of the families another writer owns (the nightly's attempt, check's own), of this
    output, from the file as it is: one writer of the file never drops the other's."""
    owned = {name for name, _, _ in mine}
    try:
        text = storage.read_bytes(path, limit=RECORD_LIMIT).decode()
        parsed = list(text_string_to_metric_families(text))
    except (LenetError, ValueError, UnicodeDecodeError):
        return []  # none yet, or not ours to read
    return [
        (f.name.removeprefix(PREFIX), dict(s.labels), s.value)
        for f in parsed
        if f.name.removeprefix(PREFIX).startswith(CARRIED) and f.name.removeprefix(PREFIX) not in owned
        for s in f.samples
        if s.labels.get("output") == output
    ]


def write_metrics(path: str, output: str, health: Health | None, *more: Sample) -> None:
    """Write the textfile atomically: the output's health (None: not known) and `more` samples, with the
    other writer's families kept; StorageError (one line) when it cannot be written."""
    found = [*samples(health), *more]
    found += _carried(path, output, found)
    with storage.storage_errors(path):  # one line: a folder in its place, a read-only mount, a full disk
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        write_to_textfile(path, registry(found))
    log.info("metrics: %s (%s)", path, health.state if health else "not judged")
