"""The nightly: train → infer → summary for one run id under the output's lock; resumable, one at a time."""

import dataclasses
import logging
from typing import Any

from lenet_batch.config import Settings
from lenet_batch.pipeline import stages
from lenet_batch.provenance import now_utc
from lenet_batch.store import lock, run_record, storage
from lenet_batch.store.backends import check_reachable_by_workers
from lenet_batch.summary.baseline import PREVIOUS
from lenet_batch.summary.report import headline_line

log = logging.getLogger(__name__)


def nightly(settings: Settings) -> dict[str, Any]:
    """Run the three stages; returns the summary (with its report path). The heartbeat is written last."""
    from lenet_batch.cluster.session import ray_session

    if not settings.baseline:
        settings = dataclasses.replace(settings, baseline=PREVIOUS)
    if settings.input:  # the nightly evaluates on the test split; other images are scored by `infer --input`
        log.warning("nightly: ignoring input %s; it scores the Fashion-MNIST test split", settings.input)
        settings = dataclasses.replace(settings, input="", input_labels="", input_name="")
    run = stages.run_ref(settings)
    check_reachable_by_workers(run.output)
    with lock.run_lock(run, settings.stale_lock_seconds):
        dataset = stages.load_dataset(settings)
        # One Ray session for both stages: the stages' own ray_session calls join it.
        with ray_session(settings.address):
            with run_record.marks_interruption(run, "train"):
                stages.raise_if_failed(stages.train(settings, run, dataset), "train")
            with run_record.marks_interruption(run, "infer"):
                seeds = settings.seed_list()
                stages.raise_if_failed(stages.infer(settings, run, seeds, dataset), "infer")
        with run_record.marks_interruption(run, "summary"):
            result = stages.summarize(settings, run, dataset=dataset)
        storage.write_json_atomic(
            run.layout.heartbeat(),
            {"run_id": run.run_id, "finished_at": now_utc(), "headline": headline_line(result)},
            run.options,
        )
    return result
