"""The nightly's plan: made once from the night's state before the lock (what `nightly --dry-run` prints,
and "nothing to do" when it holds only skips), and again under the lock with the data loaded, so that
other data is refused before anything is written and the test split's digest is known."""

from dataclasses import dataclass, replace

from lenet_batch.config import DataRequest, Settings
from lenet_batch.data.fashion_mnist import FashionMNIST
from lenet_batch.data.inputs import ImageSource
from lenet_batch.pipeline import run_data, stages
from lenet_batch.pipeline.owner import RunOwner
from lenet_batch.pipeline.plan import Plan, plan
from lenet_batch.pipeline.requests import SummaryRequest, TrainRequest, night_plan_request
from lenet_batch.pipeline.single import preflight
from lenet_batch.records import DataInfo, digest_of_test_split
from lenet_batch.state.listing import Nights
from lenet_batch.state.run_state import RunState
from lenet_batch.summary.baseline import Baseline, load_baseline


@dataclass(frozen=True)
class NightPlan:
    """A night's plan with what it was made from: the state, the baseline, the requests; under the lock
    also the dataset and the test split it scores (None before)."""

    state: RunState
    nights: Nights  # the other nights, each record read at most once (baseline search, then history)
    base: Baseline
    plan: Plan
    training: TrainRequest
    gating: SummaryRequest
    data: DataRequest
    dataset: FashionMNIST | None = None
    source: ImageSource | None = None


def recorded_test_split(state: RunState, asked: DataRequest) -> str | None:
    """The recorded test split's digest when the request names the recorded data (None: it may not, and
    the data must be loaded to know)."""
    recorded = state.record.data if state.record else None
    if recorded is None or (asked.uri and asked.uri != recorded.source):
        return None
    if recorded.verified is not None and recorded.verified != asked.verify:
        return None
    if (asked.train_limit, asked.test_limit) != (recorded.train_limit, recorded.test_limit):
        return None
    return digest_of_test_split(recorded)


def plan_night(settings: Settings, force: bool, state: RunState | None = None) -> NightPlan:
    """The night's plan from its state (read here unless given), before any data is loaded; refuses
    (exit 2) what the run would refuse: memory://, GPUs this machine lacks, another recipe, a missing
    baseline named by hand."""
    preflight(settings)
    training, gating, data = TrainRequest.of(settings), SummaryRequest.of(settings), settings.data_request()
    state = state or RunOwner.read(settings.run_ref()).state
    nights = Nights(state.run.layout, skip=state.run_id)
    base = load_baseline(state, gating.baseline, nights, gating.reference_window)
    split = recorded_test_split(state, data)
    asked = night_plan_request(state, (training, gating), base, data=None, test_split=split, force=force)
    return NightPlan(state, nights, base, plan(state, asked), training, gating, data)


def with_data(planned: NightPlan, dataset: FashionMNIST, force: bool) -> NightPlan:
    """The plan again with the data loaded: its identity compared with the seeds' (refused when other),
    and the test split that is scored, sealed against the run's recorded one."""
    state, training = planned.state, planned.training
    info: DataInfo = stages.data_info(dataset, training.data.verify)
    split = digest_of_test_split(info)
    asked = night_plan_request(
        state, (training, planned.gating), planned.base, data=info, test_split=split, force=force
    )
    fresh = plan(state, asked)  # other data than the seeds recorded: refused here, nothing written
    source = ImageSource(data_uri=training.data.uri or None, verify=training.data.verify)
    source, _ = run_data.sealed_source(state, source, planned.data, dataset)
    return replace(planned, plan=fresh, dataset=dataset, source=source)


def locked_plan(planned: NightPlan, force: bool) -> NightPlan:
    """Under the lock: the data loaded and the night planned with it."""
    dataset = stages.load_dataset(planned.training.data, planned.state.run.options)
    return with_data(planned, dataset, force)
