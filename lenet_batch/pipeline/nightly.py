"""The nightly: train → infer → summary for one run id under the output's lock; resumable, one at a time."""

import dataclasses
import logging
from typing import Any

from lenet_batch.config import Settings
from lenet_batch.pipeline import stages
from lenet_batch.provenance import now_utc
from lenet_batch.store import lock, storage
from lenet_batch.summary.baseline import PREVIOUS
from lenet_batch.summary.report import headline_line

log = logging.getLogger(__name__)


def nightly(settings: Settings) -> dict[str, Any]:
    """Run the three stages; returns the summary (with its report path). The heartbeat is written last."""
    if not settings.baseline:
        settings = dataclasses.replace(settings, baseline=PREVIOUS)
    run = stages.run_ref(settings)
    with lock.run_lock(run, settings.stale_lock_seconds):
        dataset = stages.load_dataset(settings)
        # Each stage starts Ray only for work that needs it (infer scores a test split in this process).
        stages.raise_if_failed(stages.train(settings, run, dataset), "train")
        stages.raise_if_failed(stages.infer(settings, run, settings.seed_list(), dataset), "infer")
        result = stages.summarize(settings, run, dataset=dataset)
        storage.write_json_atomic(
            run.layout.heartbeat(),
            {"run_id": run.run_id, "finished_at": now_utc(), "headline": headline_line(result)},
            run.options,
        )
    return result
