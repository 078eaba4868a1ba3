"""Where settings come from besides flags: a TOML file and environment variables, coerced to their types.

Generic over the settings' field names and types (config.resolve merges the layers and validates).
"""

import json
import tomllib
import types
from collections.abc import Iterable, Mapping
from typing import Any

from lenet_batch.errors import ConfigError
from lenet_batch.redaction import is_secret_key
from lenet_batch.store import local_files
from lenet_batch.store.backends import StorageOptions

ENV_PREFIX = "LENET_BATCH_"
TABLE_SETTING = "storage_options"  # the one setting that is a table, not a single value
TOML_LIMIT = 2**20  # bytes of a --config file: settings, not data


def _to_bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return value.lower() in ("1", "true", "yes", "on")
    raise ValueError(value)


def _from_text(kind: Any, text: str) -> Any:
    """An environment variable's text as the field's type (int('x') raises ValueError)."""
    if kind is bool:
        return _to_bool(text)
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    if kind is str:
        return text
    raise ValueError(text)


def _typed(name: str, kind: Any, value: Any) -> Any:
    """A value that already has the field's type (an int where a float goes is fine); else ValueError."""
    if kind is bool and isinstance(value, bool):
        return value
    if isinstance(value, bool):  # bool is an int in Python, never in a TOML file
        raise ValueError(value)
    if kind is int and isinstance(value, int):
        return value
    if kind is float and isinstance(value, int | float):
        return float(value)
    if kind is str and isinstance(value, str):
        return value
    if name == TABLE_SETTING and isinstance(value, dict):
        return dict(value)
    raise ValueError(value)


def coerce(name: str, kind: Any, value: Any, origin: str, *, from_text: bool = False) -> Any:
    """A value from a layer as the field's type, or a ConfigError naming its origin.

    Only environment variables (`from_text`) are text to convert: a TOML file and the flags have types,
    so `epochs = "1"` or `verify_data = "no"` in a TOML file is refused rather than guessed at.
    """
    if isinstance(kind, types.UnionType):  # `str | None`: None is only ever the default
        kind = next(k for k in kind.__args__ if k is not type(None))
    try:
        if from_text and isinstance(value, str) and name != TABLE_SETTING:
            return _from_text(kind, value)
        return _typed(name, kind, value)
    except (ValueError, OverflowError):  # int('x'), a string where a number goes
        pass
    shown = "(a table of options)" if name == TABLE_SETTING else repr(value)  # may hold a secret
    kind_name = "table" if name == TABLE_SETTING else getattr(kind, "__name__", kind)
    typed = not from_text and _quoted(value)
    hint = "; a TOML file has types: write numbers and true/false without quotes" if typed else ""
    raise ConfigError(f"{origin}: {name} = {shown} is not a valid {kind_name}{hint}")


def _quoted(value: Any) -> bool:
    """True for a string that reads as a number or a boolean (a quoted TOML value)."""
    if not isinstance(value, str):
        return False
    try:
        float(value)
        return True
    except ValueError:
        return value.lower() in ("true", "false", "yes", "no", "on", "off")


def load_toml(path: str) -> dict[str, Any]:
    """Read a --config TOML file (flat keys, as the flags are named with '_' for '-')."""
    try:  # a regular file only: a FIFO or a device in its place is refused, never waited on
        raw = tomllib.loads(local_files.read_regular(path, TOML_LIMIT).decode())
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"--config {path}: is a folder; give the TOML file") from None
    except OSError as exc:
        raise ConfigError(f"--config {path}: {local_files.reason(exc)}") from None
    except ValueError as exc:  # TOMLDecodeError, or bytes that are not UTF-8
        raise ConfigError(f"--config {path}: invalid TOML ({str(exc).splitlines()[0]})") from None
    return {k.replace("-", "_"): v for k, v in raw.items()}


def from_env(env: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """Settings given as LENET_BATCH_<NAME> variables (RAY_ADDRESS for the address), flag spellings too."""
    names = [*names, *NEGATED_FLAGS]
    values = {name: env[ENV_PREFIX + name.upper()] for name in names if ENV_PREFIX + name.upper() in env}
    values.pop(TABLE_SETTING, None)  # secrets come from the AWS environment, not from here
    if env.get("RAY_ADDRESS") and "address" not in values:
        values["address"] = env["RAY_ADDRESS"]
    return values


def _option_value(key: str, value: str) -> Any:
    """'true'/'false' as booleans, a JSON object as a table (client_kwargs={...}); anything else a string."""
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value.startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            raise ConfigError(f"--storage-option {key}: the value is not a valid JSON object") from None
    return value  # numbers stay strings: a secret or a bucket may be all digits


def parse_storage_options(pairs: list[str] | None) -> StorageOptions | None:
    """--storage-option key=value pairs into a dict (see _option_value for how values are read)."""
    if not pairs:
        return None
    options: StorageOptions = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            shown = "(a value that looks like a credential)" if is_secret_key(pair) else repr(pair)
            raise ConfigError(f"--storage-option {shown}: use key=value")
        options[key.strip()] = _option_value(key.strip(), value)
    return options


# Keys named like a flag that sets a setting to false: `--no-verify` is `no_verify = true` in a --config file
# and LENET_BATCH_NO_VERIFY=1 in the environment, i.e. verify_data = false (the setting's own name, the
# older spelling, still works).
NEGATED_FLAGS = {"no_verify": "verify_data"}


def flag_spellings(values: Mapping[str, Any], origin: str, *, from_text: bool = False) -> dict[str, Any]:
    """One layer's values with flag-named keys turned into their settings (no_verify -> verify_data).

    Both spellings in one layer must agree; across layers the usual order decides (flags > env > file).
    """
    out = dict(values)
    for key, setting in NEGATED_FLAGS.items():
        if key not in out:
            continue
        negated = coerce(key, bool, out.pop(key), origin, from_text=from_text)
        if setting in out and coerce(setting, bool, out[setting], origin, from_text=from_text) == negated:
            shown = str(negated).lower()
            raise ConfigError(
                f"{origin}: {key} = {shown} and {setting} = {shown} contradict each other; "
                f"give one of them ({key} is the flag's name)"
            )
        out[setting] = not negated
    return out
