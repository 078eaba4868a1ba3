"""Settings: seeds syntax, precedence, rejection of bad values of every setting, secrets never shown."""

import re

import pytest

from lenet_batch import config, config_layers
from lenet_batch.errors import ConfigError
from lenet_batch.redaction import redact


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
    assert config_layers.parse_storage_options(["anon=false", "endpoint_url=http://127.0.0.1:9"]) == {
        "anon": False,
        "endpoint_url": "http://127.0.0.1:9",
    }
    with pytest.raises(ConfigError, match="key=value"):
        config_layers.parse_storage_options(["novalue"])


# --- secrets are masked at any depth, and never shown ------------------------------------------------------

NESTED_TOML = """
[storage_options]
anon = false
key = "AKIAFLATKEY"
[storage_options.client_kwargs]
aws_secret_access_key = "NESTEDSECRET"
region_name = "eu-west-1"
[[storage_options.profiles]]
name = "first"
session_token = "LISTSECRET"
"""


def test_redact_masks_credentials_at_any_depth_in_dicts_and_lists():
    value = {
        "a": [{"password": "p1", "keep": 1}, ("x", {"Session": "s"})],
        "nested": {"deeper": {"client_secret": "c", "region": "r"}},
        "AWS_SECRET_ACCESS_KEY": "k",
        "signature_version": "v4",  # a secret-looking word is masked even when harmless: err on the safe side
    }
    assert redact(value) == {
        "a": [{"password": "***", "keep": 1}, ["x", {"Session": "***"}]],
        "nested": {"deeper": {"client_secret": "***", "region": "r"}},
        "AWS_SECRET_ACCESS_KEY": "***",
        "signature_version": "***",
    }


def test_nested_storage_options_from_toml_are_recorded_masked_and_never_in_repr(tmp_path):
    from lenet_batch.config import Recipe
    from lenet_batch.store import run_record, storage
    from lenet_batch.store.layout import RunRef

    toml = tmp_path / "c.toml"
    toml.write_text(NESTED_TOML)
    settings = config.resolve({}, env={}, config_path=str(toml))
    assert settings.storage_options["client_kwargs"]["aws_secret_access_key"] == "NESTEDSECRET"  # in use
    run = RunRef(str(tmp_path / "out"), "r1", settings.storage_options)
    record = run_record.started(
        None, "r1", config=settings.public_record(), recipe=Recipe(), seeds=(0,), data=None
    )
    run_record.write_record(run, record)
    recorded = (tmp_path / "out" / "runs" / "r1" / "run.json").read_text()
    for secret in ("AKIAFLATKEY", "NESTEDSECRET", "LISTSECRET"):
        assert secret not in recorded and secret not in repr(settings) and secret not in str(settings)
    assert "NESTEDSECRET" not in repr(run) and "NESTEDSECRET" not in repr(run.layout)  # RunRef, Layout
    options = storage.read_json(run.run_json)["config"]["storage_options"]
    assert options["client_kwargs"] == {"aws_secret_access_key": "***", "region_name": "eu-west-1"}
    assert options["profiles"] == [{"name": "first", "session_token": "***"}] and options["key"] == "***"
    assert "lenet_batch_timeout" not in options  # recorded once, as storage_timeout


@pytest.mark.parametrize(
    "toml_text",
    ['storage_options = "aws_secret_access_key=S3CR3T"', 'storage_options = ["S3CR3T"]'],
)
def test_a_malformed_storage_options_value_is_refused_without_echoing_it(tmp_path, toml_text):
    toml = tmp_path / "c.toml"
    toml.write_text(toml_text + "\n")
    with pytest.raises(ConfigError, match="storage_options = \\(a table of options\\)") as refused:
        config.resolve({}, env={}, config_path=str(toml))
    assert "S3CR3T" not in str(refused.value)


def test_a_storage_option_pair_without_a_value_is_refused_without_echoing_a_secret():
    with pytest.raises(ConfigError, match="use key=value") as refused:
        config_layers.parse_storage_options(["aws_secret_access_key:S3CR3T"])
    assert "S3CR3T" not in str(refused.value)


def test_storage_option_values_json_tables_and_strings():
    assert config_layers.parse_storage_options(
        ['client_kwargs={"region_name": "eu-west-1"}', "key=0123", "anon=TRUE"]
    ) == {"client_kwargs": {"region_name": "eu-west-1"}, "key": "0123", "anon": True}
    with pytest.raises(ConfigError, match="not a valid JSON object"):
        config_layers.parse_storage_options(["client_kwargs={region"])


# --- every setting is validated before any work ----------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"seeds": "4294967296"}, "--seeds: 4294967296 is above 4294967295"),
        ({"seeds": "0-4294967296"}, "--seeds: 4294967296 is above"),
        ({"seeds": "٣"}, "--seeds: cannot parse"),  # a non-ASCII digit
        ({"lr": float("inf")}, "--lr must be a finite number"),
        ({"lr": float("nan")}, "--lr must be a finite number"),
        ({"lr": 0.0}, "--lr must be positive"),
        ({"max_drop": float("inf")}, "--max-drop must be a finite number"),
        ({"max_drop": 1.5}, "--max-drop must be at most 1"),
        ({"cpus_per_seed": float("nan")}, "--cpus-per-seed must be a finite number"),
        ({"cpus_per_seed": 0.00001}, "--cpus-per-seed must be at least 0.0001"),
        ({"cpus_per_seed": 1e9}, "--cpus-per-seed must be at most 1024"),
        ({"gpus_per_seed": -1.0}, "--gpus-per-seed must be at least 0"),
        ({"gpus_per_seed": 0.00001}, "Ray counts GPUs in steps of 0.0001"),
        ({"epochs": 2**31}, "--epochs must be at most 2147483647"),
        ({"batch_size": -3}, "--batch-size must be at least 1"),
        ({"infer_batch_size": 0}, "--infer-batch-size must be at least 1"),
        ({"max_retries": -1}, "--max-retries must be at least 0"),
        ({"stale_lock_seconds": 0}, "stale_lock_seconds must be at least 1"),
        ({"storage_timeout": 0.0}, "storage_timeout must be positive"),
        ({"storage_timeout": float("inf")}, "storage_timeout must be a finite number"),
        ({"storage_retries": 101}, "storage_retries must be at most 100"),
        ({"run_id": "nl\n"}, "--run-id 'nl\\\\n'"),
        ({"run_id": "a b"}, "--run-id"),
        ({"run_id": ".hidden"}, "--run-id"),
        ({"run_id": "x" * 65}, "--run-id"),
        ({"input_name": "../up"}, "--input-name"),
        ({"baseline": "../../x"}, "--baseline '../../x'"),
        ({"baseline": "/etc"}, "--baseline '/etc'"),
        ({"baseline": "previous\n"}, "--baseline"),
        ({"output": ""}, "--output must not be empty"),
        ({"output": "nosuch://bucket/x"}, "unknown storage protocol 'nosuch'"),
        ({"data": "nosuch://x"}, "--data nosuch://x: unknown storage protocol"),
        ({"input": "simplecache::nosuch://x"}, "--input simplecache::nosuch://x"),
        ({"input_labels": "labels.idx"}, "--input-labels goes with an IDX --input"),
        ({"address": "http://127.0.0.1:8265"}, "--address http://127.0.0.1:8265: that is a dashboard"),
        ({"storage_options": {"client_kwargs": "x"}}, "storage option client_kwargs: must be a table"),
    ],
)
def test_every_setting_is_checked_naming_its_flag(flags, message):
    with pytest.raises(ConfigError, match=re.escape(message) if "\\" not in message else message) as err:
        config.resolve(flags, env={})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "flags",
    [
        {"seeds": "4294967295", "baseline": "previous"},
        {"baseline": "2026-11-27", "run_id": "2026-11-28"},
        {"gpus_per_seed": 0.5, "cpus_per_seed": 0.25, "max_drop": 1.0},
        {"output": "s3://bucket/prefix", "data": "https://example.org/fmnist"},
    ],
)
def test_values_at_the_limits_are_accepted(flags):
    config.resolve(flags, env={})


def test_the_seed_limit_is_the_rngs_own():
    np = pytest.importorskip("numpy")
    from lenet_batch.training.loop import seed_everything

    seed_everything(config.SEED_MAX)  # Python, NumPy and MXNet all take the largest seed we allow
    with pytest.raises(ValueError):
        np.random.seed(config.SEED_MAX + 1)


@pytest.mark.parametrize(
    ("toml_text", "message"),
    [
        ('epochs = "1"', "epochs = '1' is not a valid int; a TOML file has types"),
        ('verify_data = "no"', "verify_data = 'no' is not a valid bool; a TOML file has types"),
        ('lr = "0.1"', "lr = '0.1' is not a valid float"),
        ("cpus_per_seed = true", "cpus_per_seed = True is not a valid float"),
        ("seeds = 3", "seeds = 3 is not a valid str"),
        ("epochs = 1.0", "epochs = 1.0 is not a valid int"),
        ("lr = [1, 2]", "lr = [1, 2] is not a valid float"),
        ("epochs = inf", "epochs = inf is not a valid int"),
        ("epochs = 1.5", "epochs = 1.5 is not a valid int"),
        ("[epochs]\na = 1", "epochs = {'a': 1} is not a valid int"),
        ("seeds = [1, 2]", "seeds = [1, 2] is not a valid str"),
        ("run_id = 2026-11-27", "run_id = datetime.date(2026, 11, 27) is not a valid str"),
        ('verify_data = "maybe"', "verify_data = 'maybe' is not a valid bool"),
        ("output = true", "output = True is not a valid str"),
        ("epochs = ", "invalid TOML"),
    ],
)
def test_toml_values_of_the_wrong_type_are_config_errors(tmp_path, toml_text, message):
    toml = tmp_path / "c.toml"
    toml.write_text(toml_text + "\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.resolve({}, env={}, config_path=str(toml))


@pytest.mark.parametrize("kind", ["folder", "binary"])
def test_a_config_path_that_is_not_a_toml_file_is_a_config_error(tmp_path, kind):
    path = tmp_path / "c"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=f"--config {path}: (is a folder|invalid TOML)"):
        config.resolve({}, env={}, config_path=str(path))


def test_a_run_id_from_the_environment_is_checked_as_a_whole():
    with pytest.raises(ConfigError, match="--run-id"):
        config.resolve({}, env={"LENET_BATCH_RUN_ID": "night\n"})


def test_storage_limits_travel_in_the_options_and_reach_the_backends():
    from lenet_batch.store import backends

    settings = config.resolve({"storage_timeout": 3.0, "storage_retries": 1}, env={})
    assert backends.limits(settings.storage_options) == (3.0, 1)
    s3 = backends.fs_kwargs("s3://b/x", {**settings.storage_options, "config_kwargs": {"read_timeout": 30}})
    assert s3["config_kwargs"] == {
        "connect_timeout": 3.0,
        "read_timeout": 30,  # the user's own option wins
        "retries": {"total_max_attempts": 2, "mode": "standard"},
    }
    assert not set(backends.RESERVED) & set(s3)
    assert backends.fs_kwargs("ftp://h/x", settings.storage_options) == {"timeout": 3.0}
    http = backends.fs_kwargs("https://h/x", settings.storage_options)["client_kwargs"]["timeout"]
    assert (http.connect, http.sock_read, http.total) == (3.0, 3.0, None)


def test_the_documented_storage_defaults():
    from lenet_batch.store import backends

    assert (config.Settings().storage_timeout, config.Settings().storage_retries) == (10.0, 2)
    s3 = backends.fs_kwargs("s3://b/x", config.Settings().storage_options)["config_kwargs"]
    assert (s3["connect_timeout"], s3["read_timeout"], s3["retries"]["total_max_attempts"]) == (10.0, 10.0, 3)
