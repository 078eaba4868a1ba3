"""The recipe and the run settings: defaults, a TOML file, environment variables and flags, merged."""

import dataclasses
import datetime as dt
import json
import os
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from lenet_batch.checks import (
    NUMBER_RANGES,
    check_address,
    check_number,
    check_run_id,
    check_storage_options,
)
from lenet_batch.errors import ConfigError
from lenet_batch.store import backends

ENV_PREFIX = "LENET_BATCH_"
DEFAULT_SEEDS = "0-3"
GATE_RULES = ("welch", "threshold")  # the regression gate: seed-noise test, or a fixed drop
# NumPy's legacy seeding (np.random.seed) takes 0 .. 2**32-1; MXNet's seed is a C int that wraps, so every
# seed in that range still seeds it differently.
SEED_MAX = 2**32 - 1
BASELINE_PREVIOUS = "previous"  # --baseline previous: the latest earlier run with a complete summary


@dataclass(frozen=True)
class Recipe:
    """The training recipe of the seed article (LeNet-5, SGD, batch 256, 10 epochs)."""

    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.1
    mean: float = 0.13
    std: float = 0.31


@dataclass(frozen=True)
class Settings:
    """Everything a command can be told; flags > environment > --config TOML > these defaults."""

    seeds: str | None = None  # None: not given (train: DEFAULT_SEEDS; infer: every trained seed)
    output: str = "./runs"
    run_id: str = ""  # empty: today's UTC date
    data: str = ""  # empty: $LENET_BATCH_DATA, the system package, or the download cache
    verify_data: bool = True
    epochs: int = Recipe.epochs
    batch_size: int = Recipe.batch_size
    lr: float = Recipe.lr
    cpus_per_seed: float = 1.0
    gpus_per_seed: float = 0.0
    max_retries: int = 3
    address: str = ""  # empty: $RAY_ADDRESS, else a local Ray started for the run
    # Never in repr (it may hold credentials); carries storage_timeout/retries to every filesystem opened.
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)
    storage_timeout: float = backends.DEFAULT_TIMEOUT  # seconds to connect and for each read
    storage_retries: int = backends.DEFAULT_RETRIES  # attempts after the first on network errors
    input: str = ""  # images to score; empty: the Fashion-MNIST test split
    input_labels: str = ""  # IDX labels of --input when it is an IDX images file
    input_name: str = ""  # the partition name of a scored --input; empty: from the file name
    infer_batch_size: int = 8192
    baseline: str = BASELINE_PREVIOUS  # a run id, "previous" (the last earlier completed run), or "none"
    gate: str = "welch"  # "welch": one-sided Welch t-test on per-seed accuracies; "threshold": max_drop
    alpha: float = 0.01  # welch: significance level of the one-sided test
    min_effect: float = 0.002  # welch: smallest drop of mean accuracy that counts as a regression
    max_drop: float = 0.01  # threshold (and the fallback with < 2 seeds on a side): allowed drop of the mean
    stale_lock_seconds: int = 6 * 3600

    def __post_init__(self) -> None:
        # The limits ride in the options so that Ray workers open filesystems with them too.
        limits = {
            backends.TIMEOUT_OPTION: self.storage_timeout,
            backends.RETRIES_OPTION: self.storage_retries,
        }
        object.__setattr__(self, "storage_options", {**self.storage_options, **limits})

    def recipe(self) -> Recipe:
        """The training recipe these settings describe."""
        return Recipe(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr)

    def seed_list(self) -> list[int]:
        """The seeds as a sorted list of ints (DEFAULT_SEEDS when none were given)."""
        return parse_seeds(self.seeds or DEFAULT_SEEDS)

    def given_seeds(self) -> list[int] | None:
        """The seeds given by flag, environment or file; None when none were."""
        return parse_seeds(self.seeds) if self.seeds is not None else None

    def resolved_run_id(self) -> str:
        """The run id, defaulting to today's UTC date."""
        return self.run_id or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")


def parse_seeds(spec: str) -> list[int]:
    """Parse 'K', 'A-B' or 'A,B,C' (and mixes like '0-3,8') into sorted unique seeds."""
    seeds: set[int] = set()
    for part in str(spec).split(","):
        part = part.strip()
        m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", part)
        if not m:
            raise ConfigError(
                f"--seeds: cannot parse {part!r}; use K, A-B or A,B,C with non-negative integers"
            )
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi > SEED_MAX:
            raise ConfigError(f"--seeds: {hi} is above {SEED_MAX}, the largest seed NumPy's generator takes")
        if hi < lo:
            raise ConfigError(f"--seeds: range {part!r} is empty (end before start)")
        if hi - lo > 10_000:
            raise ConfigError(f"--seeds: range {part!r} is too large")
        seeds.update(range(lo, hi + 1))
    return sorted(seeds)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return value.lower() in ("1", "true", "yes", "on")
    raise ValueError(value)


def _coerce(name: str, kind: Any, value: Any, origin: str) -> Any:
    """Convert a value from TOML or the environment to the field's type, or fail naming its origin."""
    if isinstance(kind, types.UnionType):  # `str | None`: None is only ever the default
        kind = next(k for k in kind.__args__ if k is not type(None))
    try:
        if kind is bool:
            return _to_bool(value)
        if kind is int and isinstance(value, int | float | str) and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is float and isinstance(value, int | float | str) and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
        if name == "storage_options" and isinstance(value, dict):
            return dict(value)
    except (ValueError, OverflowError):  # int('x'), int(float('inf'))
        pass
    shown = "(a table of options)" if name == "storage_options" else repr(value)  # may hold a secret
    kind_name = "table" if name == "storage_options" else getattr(kind, "__name__", kind)
    raise ConfigError(f"{origin}: {name} = {shown} is not a valid {kind_name}")


def _field_types() -> dict[str, Any]:
    return {f.name: f.type for f in fields(Settings)}


def load_toml(path: str) -> dict[str, Any]:
    """Read a --config TOML file (flat keys, as the flags are named with '_' for '-')."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"--config {path}: is a folder; give the TOML file") from None
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:  # TOMLDecodeError, or bytes that are not UTF-8
        raise ConfigError(f"--config {path}: invalid TOML ({str(exc).splitlines()[0]})") from None
    return {k.replace("-", "_"): v for k, v in raw.items()}


def from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Settings given as LENET_BATCH_<NAME> variables (RAY_ADDRESS for the address)."""
    values = {
        f.name: env[ENV_PREFIX + f.name.upper()]
        for f in fields(Settings)
        if ENV_PREFIX + f.name.upper() in env
    }
    values.pop("storage_options", None)  # secrets come from the AWS environment, not from here
    if env.get("RAY_ADDRESS") and "address" not in values:
        values["address"] = env["RAY_ADDRESS"]
    return values


def resolve(
    flags: Mapping[str, Any], env: Mapping[str, str] | None = None, config_path: str | None = None
) -> Settings:
    """Merge defaults < TOML file < environment < flags (flags given as None are ignored)."""
    types = _field_types()
    layers = [
        (load_toml(config_path) if config_path else {}, f"--config {config_path}"),
        (from_env(os.environ if env is None else env), "environment"),
        ({k: v for k, v in flags.items() if v is not None}, "flag"),
    ]
    merged: dict[str, Any] = {}
    for values, origin in layers:
        for name, value in values.items():
            if name not in types:
                raise ConfigError(f"{origin}: unknown setting {name!r} (known: {', '.join(sorted(types))})")
            merged[name] = _coerce(name, types[name], value, origin)
    settings = dataclasses.replace(Settings(), **merged)
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    """Reject values no run could use, naming the flag: before any data is read or anything is written."""
    s.seed_list()
    for name, flag, low, high, low_excluded in NUMBER_RANGES:
        check_number(flag, getattr(s, name), low, high, low_excluded)
    if 0 < s.gpus_per_seed < 0.0001:
        raise ConfigError(f"--gpus-per-seed {s.gpus_per_seed:g}: Ray counts GPUs in steps of 0.0001")
    for flag, value in (("--run-id", s.run_id), ("--input-name", s.input_name)):
        if value:
            check_run_id(value, flag)
    if s.gate not in GATE_RULES:
        raise ConfigError(f"--gate {s.gate!r}: use one of {', '.join(GATE_RULES)}")
    check_number("--alpha", s.alpha, 0.0, 1.0, low_excluded=True)
    if s.alpha >= 1:
        raise ConfigError(f"--alpha must be below 1, got {s.alpha:g}")
    check_number("--min-effect", s.min_effect, 0.0, 1.0)
    if s.baseline and s.baseline != BASELINE_PREVIOUS:
        check_run_id(s.baseline, "--baseline")  # a run of this output, never a path: no escape from it
    if not s.output:
        raise ConfigError("--output must not be empty")
    _check_local_output(s.output)
    for flag, uri in (("--output", s.output), ("--data", s.data), ("--input", s.input)):
        if uri:
            backends.check_protocol(uri, flag)
    if s.input_labels and not s.input:
        raise ConfigError("--input-labels goes with an IDX --input; give --input too")
    if s.address:
        check_address(s.address)
    check_storage_options(s.storage_options)


# A key holding any of these words is a credential: its value is never recorded or logged.
SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "session", "credential", "signature", "auth")


def is_secret_key(key: str) -> bool:
    """True for keys that look like credentials (aws_secret_access_key, session_token, password, ...)."""
    lowered = str(key).lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact(value: Any) -> Any:
    """A copy safe to record or log: values of secret-looking keys masked at any depth (dicts, lists)."""
    if isinstance(value, Mapping):
        return {k: ("***" if is_secret_key(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


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


def parse_storage_options(pairs: list[str] | None) -> dict[str, Any] | None:
    """--storage-option key=value pairs into a dict (see _option_value for how values are read)."""
    if not pairs:
        return None
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            shown = "(a value that looks like a credential)" if is_secret_key(pair) else repr(pair)
            raise ConfigError(f"--storage-option {shown}: use key=value")
        options[key.strip()] = _option_value(key.strip(), value)
    return options


def _check_local_output(output: str) -> None:
    """A local --output that is a file, or lies under one, is refused before any work (or cluster) starts."""
    path = output.removeprefix("file://")
    if "://" in path:
        return
    if os.path.isfile(path):
        raise ConfigError(f"--output {output} is a file; give a folder (it is made if missing)")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ConfigError(f"--output {output}: a file is in the way where a folder must be ({parent})")
