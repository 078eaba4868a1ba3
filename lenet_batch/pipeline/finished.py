"""A finished night: every stage of the run done from what is asked now, and nothing new since its summary.

Decided from the run's small records only (run.json, metrics.json, the partition markers, summary.json and
the baseline's), without loading the data, importing MXNet or taking the lock, so that rerunning a finished
night (`make run` twice, cron, a Ray Job) says "nothing to do" in about the time of `lenet-batch runs` and
rewrites nothing. Anything else (another recipe, other data, a seed left, a changed input) goes the usual
way, where it is done or refused.
"""

from lenet_batch.data.inputs import ImageSource
from lenet_batch.pipeline import infer_work
from lenet_batch.pipeline.stages import SummaryRequest, TrainRequest, plan_training
from lenet_batch.records import digest_of_test_split
from lenet_batch.store import run_record, storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.run_record import RunRecord
from lenet_batch.summary.reuse import reusable_summary
from lenet_batch.summary.types import RunSummary
from lenet_batch.training.plan import SKIP


def finished_night(run: RunRef, training: TrainRequest, summary: SummaryRequest) -> RunSummary | None:
    """The night's summary when there is nothing left to do for it, else None."""
    if not storage.exists(run.run_json, run.options):
        return None
    record = run_record.read_run(run)
    stages_done = record.stage_status("train") == record.stage_status("infer") == "complete"
    if not stages_done or record.stage_status("summary") not in ("complete", "regressed"):
        return None
    if record.stage_status("history") != "complete":  # stopped before its history and heartbeat
        return None
    trained = {row.seed for row in record.stage_seeds("train")}
    plans = plan_training(run, training)  # another recipe is refused here, as it would be under the lock
    if not set(training.seeds) <= trained or any(p.action != SKIP for p in plans):
        return None
    digest = _recorded_digest(record, training)
    if digest is None:
        return None
    source = ImageSource(digest=digest)
    if any(infer_work.already_scored(run, seed, source) is None for seed in training.seeds):
        return None
    return reusable_summary(run, summary.baseline, summary.rule)


def _recorded_digest(record: RunRecord, training: TrainRequest) -> str | None:
    """The recorded test split's digest when the request names the recorded data (None: it may not)."""
    recorded, asked = record.data, training.data
    if recorded is None or (asked.uri and asked.uri != recorded.source):
        return None  # other data is loaded and checked the usual way (and refused if it differs)
    if recorded.verified is not None and recorded.verified != asked.verify:
        return None  # refused the usual way too ("verified recorded False, requested True")
    if (asked.train_limit, asked.test_limit) != (recorded.train_limit, recorded.test_limit):
        return None  # another subset: refused the usual way
    return digest_of_test_split(recorded)
