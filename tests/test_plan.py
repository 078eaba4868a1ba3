"""Planning a run's seeds (train, resume, skip, or refuse) and where scoring runs: pure logic, no files."""

import dataclasses

import pytest
from lenet_batch.training.plan import RESUME, SKIP, TRAIN, SeedState, plan_seed, plan_seeds

from lenet_batch.config import Recipe
from lenet_batch.errors import ConfigError
from lenet_batch.pipeline.placement import LOCAL_RAY_MIN_IMAGES, inside_ray_job, score_on_ray
from lenet_batch.records import DataInfo

RECIPE = Recipe(epochs=3)
DIGESTS = {
    k: f"{i}" * 64 for i, k in enumerate(("train_images", "train_labels", "test_images", "test_labels"))
}
DATA = DataInfo(source="/data/a", sha256=DIGESTS, verified=True)


def recorded(seed: int, finished: bool = True, epoch: int = 3, **changes) -> SeedState:
    """A seed whose files recorded RECIPE and DATA, with some fields changed."""
    recipe = {**dataclasses.asdict(RECIPE), **changes.pop("recipe", {})}
    data = dataclasses.replace(DATA, **changes.pop("data", {}))
    return SeedState(
        seed, finished=finished, epoch=epoch, recipe=recipe, data=data, test_accuracy=0.8, **changes
    )


def test_each_recorded_state_gets_its_action():
    states = {
        0: recorded(0),
        1: recorded(1, finished=False, epoch=2),
        2: SeedState(2),
        3: SeedState(3, epoch=1),  # a checkpoint of an older version: no recipe to check it against
    }
    plans = plan_seeds("r", [0, 1, 2, 3], states, RECIPE, DATA)
    assert [(p.seed, p.action, p.from_epoch) for p in plans] == [
        (0, SKIP, None),
        (1, RESUME, 3),
        (2, TRAIN, 1),
        (3, TRAIN, 1),
    ]
    assert plans[0].reason == "complete (test accuracy 0.8000)"
    assert plans[1].reason == "checkpoint after epoch 2"
    assert plan_seed(SeedState(9)).to_row() == {
        "seed": 9,
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
            "sha256.test_images",
            "ffffffffffff…",
            "222222222222…",
        ),
        ({"data": {"verified": False}}, "verified", "False", "True"),
    ],
)
def test_a_differing_record_refuses_the_run_naming_key_and_both_values(changes, key, was, wanted):
    states = {0: recorded(0, **changes), 1: recorded(1, finished=False, epoch=1, **changes)}
    with pytest.raises(ConfigError) as err:
        plan_seeds("t1", [0, 1], states, RECIPE, DATA)
    line = str(err.value)
    assert "\n" not in line and line.startswith("run t1 ")
    assert f"{key} recorded {was} (seeds [0, 1]), requested {wanted}" in line
    assert line.count("requested") == 1  # only the differing key is named


def test_a_seed_not_asked_for_still_binds_the_run_to_its_recipe():
    states = {0: recorded(0), 5: recorded(5, recipe={"lr": 0.2})}
    with pytest.raises(ConfigError, match=r"lr recorded 0.2 \(seeds \[5\]\), requested 0.1"):
        plan_seeds("r", [0], states, RECIPE, DATA)


def test_several_keys_and_values_go_on_one_line():
    states = {0: recorded(0, recipe={"epochs": 1, "lr": 0.5}), 1: recorded(1, recipe={"epochs": 2})}
    with pytest.raises(ConfigError) as err:
        plan_seeds("r", [0, 1], states, RECIPE, DATA)
    line = str(err.value)
    assert "epochs recorded 1 (seeds [0]), 2 (seeds [1]), requested 3" in line
    assert "lr recorded 0.5 (seeds [0]), requested 0.1" in line and "\n" not in line


def test_unknown_data_compares_the_recipe_only_and_json_numbers_compare_by_value():
    other_data = recorded(0, data={"verified": False})
    assert plan_seeds("r", [0], {0: other_data}, RECIPE, None)[0].action == SKIP
    with pytest.raises(ConfigError):
        plan_seeds("r", [0], {0: other_data}, RECIPE, DATA)
    as_floats = recorded(0, recipe={"epochs": 3.0, "batch_size": 256.0})
    assert plan_seeds("r", [0], {0: as_floats}, RECIPE, DATA)[0].action == SKIP
    # Records of older versions lack some keys: what is not recorded is not compared.
    old = SeedState(0, finished=True, epoch=3, recipe={"epochs": 3}, data=DataInfo("x"), test_accuracy=0.8)
    assert plan_seeds("r", [0], {0: old}, RECIPE, DATA)[0].action == SKIP


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
