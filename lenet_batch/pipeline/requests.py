"""What each stage is asked, made once from the resolved settings (so that no stage reads the whole
Settings), and the plan's request of a command built from them and from what is known of the data."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lenet_batch.config import ClusterOptions, DataRequest, GateRule, Recipe, Settings
from lenet_batch.data.inputs import ImageSource
from lenet_batch.pipeline.plan import Request
from lenet_batch.records import DataInfo
from lenet_batch.state.run_state import RunState
from lenet_batch.summary.baseline import Baseline
from lenet_batch.summary.reuse import inputs_digest


@dataclass(frozen=True)
class TrainRequest:
    """What the train stage is asked: seeds, recipe, data, where tasks run, and the settings to record."""

    seeds: tuple[int, ...]
    recipe: Recipe
    data: DataRequest
    cluster: ClusterOptions
    recorded_settings: dict[str, Any]  # as run.json records them: secrets masked

    @classmethod
    def of(cls, settings: Settings) -> "TrainRequest":
        return cls(
            tuple(settings.seed_list()),
            settings.recipe(),
            settings.data_request(),
            settings.cluster(),
            settings.public_record(),
        )


@dataclass(frozen=True)
class InferRequest:
    """What the infer stage is asked: the images, the seeds (None: every trained one), where tasks run."""

    source: ImageSource
    seeds: tuple[int, ...] | None
    cluster: ClusterOptions
    data: DataRequest

    @classmethod
    def of(cls, settings: Settings, seeds: Sequence[int] | None = None) -> "InferRequest":
        """--input (with --input-labels) or else the test split of --data; seeds default to --seeds."""
        source = ImageSource(
            uri=settings.input or None,
            labels_uri=settings.input_labels or None,
            data_uri=settings.data or None,
            verify=settings.verify_data,
            batch_size=settings.infer_batch_size,
            input_name=settings.input_name or None,
        )
        given = settings.given_seeds() if seeds is None else seeds
        chosen = None if given is None else tuple(given)
        return cls(source, chosen, settings.cluster(), settings.data_request())


@dataclass(frozen=True)
class SummaryRequest:
    """What the summary stage is asked: the baseline to compare with, the gate's rule, how far back the
    reference night may be, and which verdicts fail the command."""

    baseline: str
    rule: GateRule
    reference_window: int = 7
    fail_on: str = "inconclusive"

    @classmethod
    def of(cls, settings: Settings) -> "SummaryRequest":
        return cls(settings.baseline, settings.gate_rule(), settings.reference_window, settings.fail_on)


def summary_digest(state: RunState, base: Baseline, rule: GateRule) -> str:
    """What the run's summary would be made from now (summary/reuse.py)."""
    return inputs_digest(state, base.summary, base.run_id, rule, base.reference)


def train_plan_request(request: TrainRequest, data: DataInfo | None) -> Request:
    """The train command's request: its seeds and recipe, and the data once loaded."""
    return Request(("train",), request.seeds, request.recipe, data)


def night_plan_request(
    state: RunState,
    night: tuple[TrainRequest, SummaryRequest],
    base: Baseline,
    *,
    data: DataInfo | None,
    test_split: str | None,
    force: bool,
) -> Request:
    """The nightly's request: every stage, its seeds, recipe and data, and what its summary would be made
    from (`data` and `test_split` None: not loaded yet, so not compared)."""
    training, gating = night
    return Request(
        stages=("train", "infer", "summary", "history"),
        seeds=training.seeds,
        recipe=training.recipe,
        data=data,
        test_split=test_split,
        summary_digest=summary_digest(state, base, gating.rule),
        pictures=True,
        force=force,
        judged_by=(base.run_id, gating.rule),
    )
