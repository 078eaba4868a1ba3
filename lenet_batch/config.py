"""The recipe and the run settings: defaults, a TOML file, environment variables and flags, merged."""

import dataclasses
import datetime as dt
import os
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from lenet_batch.errors import ConfigError

ENV_PREFIX = "LENET_BATCH_"
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_SEEDS = "0-3"
GATE_RULES = ("welch", "threshold")  # the regression gate: seed-noise test, or a fixed drop


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
    storage_options: dict[str, Any] = field(default_factory=dict)
    input: str = ""  # images to score; empty: the Fashion-MNIST test split
    input_labels: str = ""  # IDX labels of --input when it is an IDX images file
    infer_batch_size: int = 8192
    baseline: str = "previous"  # a run id, "previous" (the last earlier completed run), or "none"
    gate: str = "welch"  # "welch": one-sided Welch t-test on per-seed accuracies; "threshold": max_drop
    alpha: float = 0.01  # welch: significance level of the one-sided test
    min_effect: float = 0.002  # welch: smallest drop of mean accuracy that counts as a regression
    max_drop: float = 0.01  # threshold (and the fallback with < 2 seeds on a side): allowed drop of the mean
    stale_lock_seconds: int = 6 * 3600

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
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ConfigError(
                f"--seeds: cannot parse {part!r}; use K, A-B or A,B,C with non-negative integers"
            )
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ConfigError(f"--seeds: range {part!r} is empty (end before start)")
        if hi - lo > 10_000:
            raise ConfigError(f"--seeds: range {part!r} is too large")
        seeds.update(range(lo, hi + 1))
    return sorted(seeds)


def check_run_id(run_id: str) -> str:
    """A run id is a path segment: letters, digits, '.', '_' and '-'."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise ConfigError(f"--run-id {run_id!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return run_id


def _coerce(name: str, kind: Any, value: Any, origin: str) -> Any:
    """Convert a value from TOML or the environment to the field's type, or fail naming its origin."""
    if isinstance(kind, types.UnionType):  # `str | None`: None is only ever the default
        kind = next(k for k in kind.__args__ if k is not type(None))
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            if isinstance(value, bool):
                return value
            raise ValueError(value)
        if kind is int and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is float and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, str | int):
            return str(value)
        if name == "storage_options" and isinstance(value, dict):
            return dict(value)
    except ValueError:
        pass
    raise ConfigError(f"{origin}: {name} = {value!r} is not a valid {getattr(kind, '__name__', kind)}")


def _field_types() -> dict[str, Any]:
    return {f.name: f.type for f in fields(Settings)}


def load_toml(path: str) -> dict[str, Any]:
    """Read a --config TOML file (flat keys, as the flags are named with '_' for '-')."""
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: invalid TOML ({exc})") from None
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
    """Reject values no run could use, naming the flag."""
    s.seed_list()
    if s.run_id:
        check_run_id(s.run_id)
    checks = [
        (s.epochs >= 1, "--epochs must be at least 1"),
        (s.batch_size >= 1, "--batch-size must be at least 1"),
        (s.lr > 0, "--lr must be positive"),
        (s.cpus_per_seed > 0, "--cpus-per-seed must be positive"),
        (s.gpus_per_seed >= 0, "--gpus-per-seed must be zero or positive"),
        (s.max_retries >= 0, "--max-retries must be zero or positive"),
        (s.infer_batch_size >= 1, "--infer-batch-size must be at least 1"),
        (s.max_drop >= 0, "--max-drop must be zero or positive"),
        (s.gate in GATE_RULES, f"--gate {s.gate!r}: use one of {', '.join(GATE_RULES)}"),
        (0 < s.alpha < 1, "--alpha must be between 0 and 1 (exclusive)"),
        (s.min_effect >= 0, "--min-effect must be zero or positive"),
        (bool(s.output), "--output must not be empty"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


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


def parse_storage_options(pairs: list[str] | None) -> dict[str, Any] | None:
    """--storage-option key=value pairs into a dict (values 'true'/'false' and numbers converted)."""
    if not pairs:
        return None
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--storage-option {pair!r}: use key=value")
        lowered = value.lower()
        options[key] = True if lowered == "true" else False if lowered == "false" else value
    return options
