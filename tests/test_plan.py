"""Planning a run (train, resume, score, summarise, skip, or refuse) from its state, and where scoring runs:
pure logic, no files."""

import dataclasses

import pytest

from lenet_batch.config import Recipe
from lenet_batch.errors import ConfigError, DataError, ModelFileError
from lenet_batch.pipeline.placement import LOCAL_RAY_MIN_IMAGES, inside_ray_job, score_on_ray
from lenet_batch.pipeline.plan import RECORD, RESUME, SCORE, SKIP, SUMMARISE, TRAIN, Request, Step, plan
from lenet_batch.records import DataInfo
from lenet_batch.state.run_state import RunState, SeedState
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import CheckpointPointer, EpochMetrics, Marker, SeedMetrics

RECIPE = Recipe(epochs=3)
DIGESTS = {
    k: f"{i}" * 64 for i, k in enumerate(("train_images", "train_labels", "test_images", "test_labels"))
}
DATA = DataInfo(source="/data/a", sha256=DIGESTS, verified=True)
EPOCH = EpochMetrics(1, 0.5, 0.8, 0.8, 1.0)


def recorded(seed: int, finished: bool = True, epoch: int = 3, recipe=None, data=None) -> SeedState:
    """A seed whose files recorded RECIPE and DATA (or the changes given)."""
    recipe = dataclasses.replace(RECIPE, **(recipe or {}))
    data = dataclasses.replace(DATA, **(data or {}))
    if finished:
        metrics = SeedMetrics("r", seed, recipe, (EPOCH,) * epoch, "m" * 64, data)
        return SeedState(seed, metrics=metrics)
    return SeedState(seed, checkpoint=CheckpointPointer(epoch, "p", (EPOCH,) * epoch, "d", recipe, data))


def state_of(*seeds: SeedState) -> RunState:
    return RunState(RunRef("/out", "r"), seeds={s.seed: s for s in seeds})


def train(state: RunState, seeds, data=DATA) -> list[Step]:
    return [
        s for s in plan(state, Request(("train",), tuple(seeds), RECIPE, data)).steps if s.seed is not None
    ]


def test_each_recorded_state_gets_its_action():
    older = SeedState(3, checkpoint=CheckpointPointer(1, "p", (EPOCH,), "d"))  # no recipe to check it against
    state = state_of(recorded(0), recorded(1, finished=False, epoch=2), SeedState(2), older)
    steps = train(state, [0, 1, 2, 3])
    assert [(s.seed, s.action, s.from_epoch) for s in steps] == [
        (0, SKIP, None),
        (1, RESUME, 3),
        (2, TRAIN, 1),
        (3, TRAIN, 1),
    ]
    assert steps[0].reason == "complete (test accuracy 0.8000)"
    assert steps[1].reason == "checkpoint after epoch 2"
    assert steps[2].to_json() == {
        "stage": "train",
        "seed": 2,
        "action": TRAIN,
        "from_epoch": 1,
        "reason": "nothing recorded",
    }


@pytest.mark.parametrize(
    "changes, key, was, wanted",
    [
        ({"recipe": {"epochs": 1}}, "epochs", "1", "3"),
        ({"recipe": {"lr": 0.05}}, "lr", "0.05", "0.1"),
        ({"recipe": {"batch_size": 128}}, "batch_size", "128", "256"),
        ({"recipe": {"std": 0.3}}, "std", "0.3", "0.31"),
        (
            {"data": {"sha256": {**DIGESTS, "test_images": "f" * 64}}},
            "data test_images",
            "ffffffffffff",
            "222222222222",
        ),
        ({"data": {"verified": False}}, "data verified", "false", "true"),
        ({"data": {"test_limit": 500}}, "data test_limit", "500", "whole split"),
    ],
)
def test_a_differing_record_refuses_the_run_naming_key_and_both_values(changes, key, was, wanted):
    state = state_of(recorded(0, **changes), recorded(1, finished=False, epoch=1, **changes))
    with pytest.raises(ConfigError) as err:
        train(state, [0, 1])
    line = str(err.value)
    assert "\n" not in line and line.startswith("run r ")
    assert f"{key} recorded {was} (seeds [0, 1]), requested {wanted}" in line
    assert line.count("requested") == 1  # only the differing key is named


def test_a_seed_not_asked_for_still_binds_the_run_to_its_recipe():
    state = state_of(recorded(0), recorded(5, recipe={"lr": 0.2}))
    with pytest.raises(ConfigError, match=r"lr recorded 0.2 \(seeds \[5\]\), requested 0.1"):
        train(state, [0])


def test_several_keys_and_values_go_on_one_line():
    state = state_of(recorded(0, recipe={"epochs": 1, "lr": 0.5}), recorded(1, recipe={"epochs": 2}))
    with pytest.raises(ConfigError) as err:
        train(state, [0, 1])
    line = str(err.value)
    assert "epochs recorded 1 (seeds [0]), 2 (seeds [1]), requested 3" in line
    assert "lr recorded 0.5 (seeds [0]), requested 0.1" in line and "\n" not in line


def test_unknown_data_compares_the_recipe_only():
    other_data = state_of(recorded(0, data={"verified": False}))
    assert train(other_data, [0], data=None)[0].action == SKIP
    with pytest.raises(ConfigError):
        train(other_data, [0])


def test_a_damaged_finished_seed_or_run_record_refuses_every_stage_naming_it():
    damaged = state_of(
        recorded(0), SeedState(1, problems=("/out/runs/r/seeds/seed=1/metrics.json: empty file",))
    )
    for stages in (("train",), ("infer",), ("summary",)):
        with pytest.raises(DataError, match=r"seed 1 of run r: .*metrics.json: empty file"):
            plan(damaged, Request(stages, (0, 1), RECIPE, DATA))
    bad_record = RunState(
        RunRef("/out", "r"), seeds={}, record_problem="/out/runs/r/run.json: not valid JSON"
    )
    with pytest.raises(DataError, match="run.json: not valid JSON"):
        plan(bad_record, Request(("summary",), None))


def marked(seed: int, split: str = "abc", model: str = "m" * 64) -> SeedState:
    """A finished seed whose evaluation partition was committed from `model` on test split `split`."""
    return dataclasses.replace(
        recorded(seed), marker=Marker("part-00000.parquet", 10, model, input_sha256=split)
    )


def test_a_seed_is_scored_again_only_when_its_model_or_input_changed():
    state = state_of(marked(0), marked(1, split="xyz"), marked(2, model="n" * 64), recorded(3))
    steps = plan(state, Request(("infer",), None, test_split="abc")).steps
    assert [(s.seed, s.action) for s in steps] == [(0, SKIP), (1, SCORE), (2, SCORE), (3, SCORE)]
    assert "scored on xyz" in steps[1].reason and "model changed" in steps[2].reason
    forced = plan(state, Request(("infer",), None, test_split="abc", force=True)).steps
    assert [s.action for s in forced] == [SCORE] * 4


def test_seeds_to_score_must_have_a_model():
    with pytest.raises(ModelFileError, match=r"no finished model for seed\(s\) \[7\]"):
        plan(state_of(marked(0)), Request(("infer",), (0, 7), test_split="abc"))
    with pytest.raises(DataError, match="no seed has finished training"):
        plan(state_of(SeedState(0)), Request(("infer",), None, test_split="abc"))


def test_a_stage_whose_seeds_are_all_done_but_not_recorded_is_recorded():
    steps = plan(state_of(marked(0)), Request(("infer",), None, test_split="abc")).steps
    assert [(s.seed, s.action) for s in steps] == [(0, SKIP), (None, RECORD)]


def test_a_night_with_work_before_its_summary_summarises_and_builds_its_history():
    night = plan(
        state_of(SeedState(0)), Request(("train", "infer", "summary", "history"), (0,), RECIPE, DATA)
    )
    assert [(s.stage, s.seed, s.action) for s in night.steps] == [
        ("train", 0, TRAIN),
        ("infer", 0, SCORE),
        ("summary", None, SUMMARISE),
        ("history", None, "build"),
    ]
    assert not night.empty and night.seeds("train", TRAIN) == [0]


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, False),
        ({"RAY_ADDRESS": "10.0.0.1:6379"}, True),
        ({"RAY_JOB_CONFIG_JSON_ENV_VAR": '{"runtime_env": {}}'}, True),
        ({"RAY_JOB_ID": "01000000"}, True),
        ({"RAY_ADDRESS": ""}, False),
        ({"HOME": "/root"}, False),
    ],
)
def test_a_ray_job_is_recognised_by_what_the_job_supervisor_sets(env, expected):
    assert inside_ray_job(env) is expected


def _on_ray(**changes) -> bool:
    args = {
        "address": "",
        "env": {},
        "session_open": False,
        "gpus_per_seed": 0.0,
        "seeds": 4,
        "images": 10_000,
        "slots": 2,
    }
    return score_on_ray(**{**args, **changes})


def test_scoring_stays_in_process_unless_a_cluster_is_involved_or_the_work_is_large():
    assert not _on_ray()  # a finished 4-seed run's test split: seconds of work
    assert _on_ray(address="127.0.0.1:6379")
    assert _on_ray(env={"RAY_JOB_CONFIG_JSON_ENV_VAR": "{}"})
    assert _on_ray(session_open=True)
    assert _on_ray(gpus_per_seed=0.5)
    big = LOCAL_RAY_MIN_IMAGES // 8 + 1
    assert _on_ray(seeds=8, images=big)  # e.g. 8 seeds x 200k images on 2 cores
    assert not _on_ray(seeds=8, images=big, slots=1)  # one core: nothing to parallelise
    assert not _on_ray(seeds=1, images=10 * LOCAL_RAY_MIN_IMAGES)  # one seed runs on one core anyway
