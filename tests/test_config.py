"""Settings: seeds syntax, precedence of flags over environment over TOML, rejection of bad values."""

import pytest

from lenet_batch import config
from lenet_batch.errors import ConfigError


@pytest.mark.parametrize(
    ("spec", "seeds"),
    [("3", [3]), ("0-3", [0, 1, 2, 3]), ("5,1,3", [1, 3, 5]), ("0-1,7", [0, 1, 7]), (" 2 , 2 ", [2])],
)
def test_seed_syntax(spec, seeds):
    assert config.parse_seeds(spec) == seeds


@pytest.mark.parametrize("spec", ["", "a", "3-1", "-1", "1-", "1.5"])
def test_bad_seed_syntax(spec):
    with pytest.raises(ConfigError, match="--seeds"):
        config.parse_seeds(spec)


def test_flags_beat_environment_beat_file(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('epochs = 3\nlr = 0.05\nseeds = "0-7"\noutput = "s3://b/x"\n')
    env = {"LENET_BATCH_EPOCHS": "4", "RAY_ADDRESS": "127.0.0.1:6379"}
    s = config.resolve({"epochs": 5, "lr": None}, env=env, config_path=str(toml))
    assert (s.epochs, s.lr, s.seeds, s.output, s.address) == (5, 0.05, "0-7", "s3://b/x", "127.0.0.1:6379")
    s = config.resolve({}, env=env, config_path=str(toml))
    assert s.epochs == 4


def test_unknown_key_in_file_is_rejected(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("epoch = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'epoch'"):
        config.resolve({}, env={}, config_path=str(toml))


def test_wrong_type_in_file_is_rejected(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('epochs = "many"\n')
    with pytest.raises(ConfigError, match="epochs = 'many' is not a valid int"):
        config.resolve({}, env={}, config_path=str(toml))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"epochs": 0}, "--epochs"),
        ({"lr": -1.0}, "--lr"),
        ({"run_id": "a/b"}, "--run-id"),
        ({"batch_size": 0}, "--batch"),
    ],
)
def test_invalid_values_are_rejected(flags, message):
    with pytest.raises(ConfigError, match=message):
        config.resolve(flags, env={})


def test_default_run_id_is_todays_utc_date():
    import datetime as dt

    before = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    run_id = config.Settings().resolved_run_id()
    after = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert run_id in {before, after}  # the date may turn at UTC midnight between the calls


def test_storage_options_pairs():
    assert config.parse_storage_options(["anon=false", "endpoint_url=http://127.0.0.1:9"]) == {
        "anon": False,
        "endpoint_url": "http://127.0.0.1:9",
    }
    with pytest.raises(ConfigError, match="key=value"):
        config.parse_storage_options(["novalue"])
