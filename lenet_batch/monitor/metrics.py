"""The output's health as a Prometheus textfile for node_exporter's textfile collector, written by
prometheus_client (write_to_textfile: a temporary file beside it, not named *.prom, then a rename; label
values escaped by its exposition writer).

Every series carries the output; those about one night carry its run_id too (one new series per night).
"""

import logging
import os
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import GaugeMetricFamily

from lenet_batch.errors import StorageError
from lenet_batch.monitor.health import STATES, Health
from lenet_batch.provenance import parse_utc
from lenet_batch.state.night import NightStatus
from lenet_batch.state.outcome import OUTCOMES, STAGES
from lenet_batch.store import storage

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
}

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


def samples(health: Health) -> list[Sample]:
    """Every sample the health gives, family by family."""
    out: list[Sample] = [
        ("health", {"output": health.output, "state": s}, float(health.state == s)) for s in STATES
    ]
    finished = parse_utc(health.last_success.finished_at) if health.last_success else None
    when = finished.timestamp() if finished else 0.0
    out.append(("last_success_timestamp_seconds", {"output": health.output}, when))
    if health.night is not None:
        out += _night_samples(health.night, health.output)
    return out


def families(health: Health) -> Iterator[GaugeMetricFamily]:
    """The gauges with samples, in FAMILIES' order, each with its help text."""
    by_family: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in samples(health):
        by_family.setdefault(name, []).append((labels, value))
    for name, help_text in FAMILIES.items():
        if name not in by_family:
            continue
        label_names = list(by_family[name][0][0])
        family = GaugeMetricFamily(PREFIX + name, help_text, labels=label_names)
        for labels, value in by_family[name]:
            family.add_metric([str(labels[k]) for k in label_names], float(value))
        yield family


class _HealthCollector:
    """A custom collector of one Health value (prometheus_client asks it for its families)."""

    def __init__(self, health: Health) -> None:
        self.health = health

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return families(self.health)


def registry(health: Health) -> CollectorRegistry:
    """A registry of its own holding the health's gauges (never the process-wide default registry)."""
    found = CollectorRegistry()
    found.register(_HealthCollector(health))
    return found


def render(health: Health) -> str:
    """The text exposition (format 0.0.4): HELP and TYPE once per family, then its samples."""
    return generate_latest(registry(health)).decode()


def write_metrics(path: str, health: Health) -> bool:
    """Write the textfile atomically; a failure is logged (monitoring never changes an exit code)."""
    try:
        with storage.storage_errors(path):  # one line: a folder in its place, a read-only mount, a full disk
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            write_to_textfile(path, registry(health))
    except StorageError as exc:
        log.error("metrics file %s not written: %s", path, exc)
        return False
    log.info("metrics: %s (%s)", path, health.state)
    return True
