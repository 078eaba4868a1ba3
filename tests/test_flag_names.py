"""Flags, TOML keys and environment variables share one name; global flags go on either side of a command."""

import argparse

import pytest

from lenet_batch import __version__, cli, config
from lenet_batch.cli.parser import build_parser
from lenet_batch.config_layers import NEGATED_FLAGS
from lenet_batch.errors import ConfigError

COMMANDS = ["data", "train", "predict", "infer", "query", "summary", "nightly", "runs", "history", "check"]
NOT_IN_FILES = {"storage_option"}  # repeatable KEY=VALUE pairs; the file has a [storage_options] table


def setting_flags() -> dict[tuple[str, ...], str]:
    """Every flag of every command that sets a Settings field: its long names with '_' -> the field."""
    fields = set(config.Settings.__dataclass_fields__)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    found = {}
    for parser in sub.choices.values():
        for action in parser._actions:
            names = tuple(o[2:].replace("-", "_") for o in action.option_strings if o.startswith("--"))
            if names and action.dest in fields:
                found[names] = action.dest
    return found


def test_every_settings_flag_is_a_toml_key_and_an_environment_variable_of_the_same_name():
    flags = setting_flags()
    spelled = {name for names in flags for name in names}
    assert {"output", "seeds", "epochs", "no_verify", "storage_timeout", "query_timeout"} <= spelled
    for names, dest in flags.items():
        if set(names) & NOT_IN_FILES:
            continue
        keys = {NEGATED_FLAGS.get(name, name) for name in names}
        assert dest in keys, f"--{names[0]} sets {dest}: no spelling of the flag is named {dest}"


@pytest.mark.parametrize(
    ("toml", "env", "verify"),
    [
        ("no_verify = true\n", {}, False),
        ("no_verify = false\n", {}, True),
        ("verify_data = false\n", {}, False),  # the older spelling
        ("no_verify = true\nverify_data = false\n", {}, False),  # both, agreeing
        ("", {"LENET_BATCH_NO_VERIFY": "1"}, False),
        ("", {"LENET_BATCH_NO_VERIFY": "0"}, True),
        ("", {"LENET_BATCH_VERIFY_DATA": "false"}, False),
        ("", {"LENET_BATCH_NO_VERIFY": "true", "LENET_BATCH_VERIFY_DATA": "false"}, False),
        # Across layers the usual order decides, whatever the spelling: environment beats the file.
        ("no_verify = true\n", {"LENET_BATCH_VERIFY_DATA": "true"}, True),
        ("verify_data = false\n", {"LENET_BATCH_NO_VERIFY": "0"}, True),
    ],
)
def test_no_verify_in_a_file_or_the_environment_as_the_flag_is_named(tmp_path, toml, env, verify):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    assert config.resolve({}, env=env, config_path=str(path)).verify_data is verify
    assert config.resolve({"verify_data": False}, env=env, config_path=str(path)).verify_data is False


@pytest.mark.parametrize(
    ("toml", "env", "origin"),
    [
        ("no_verify = true\nverify_data = true\n", {}, "--config"),
        ("", {"LENET_BATCH_NO_VERIFY": "1", "LENET_BATCH_VERIFY_DATA": "1"}, "environment"),
        ("", {"LENET_BATCH_NO_VERIFY": "no", "LENET_BATCH_VERIFY_DATA": "off"}, "environment"),
    ],
)
def test_the_two_spellings_contradicting_in_one_place_are_refused(tmp_path, toml, env, origin):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=f"^{origin}.*no_verify = .* and verify_data = .* contradict"):
        config.resolve({}, env=env, config_path=str(path))


def test_a_bad_no_verify_value_is_refused_naming_its_origin():
    with pytest.raises(ConfigError, match="environment: no_verify = 'maybe' is not a valid bool"):
        config.resolve({}, env={"LENET_BATCH_NO_VERIFY": "maybe"})


def test_no_verify_in_the_environment_reaches_the_cli(monkeypatch):
    monkeypatch.setenv("LENET_BATCH_NO_VERIFY", "1")
    args = build_parser().parse_args(["train"])
    assert cli.settings_from_args(args).verify_data is False


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("where", ["before", "after"])
def test_version_on_either_side_of_every_command(command, where, capsys):
    argv = ["--version", command] if where == "before" else [command, "--version"]
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"lenet-batch {__version__}"
