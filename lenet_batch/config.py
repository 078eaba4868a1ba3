"""The recipe and the run settings: defaults, a TOML file, environment variables and flags, merged.

Stages and tasks never take the whole Settings: they take the small views it hands out (Recipe,
ClusterOptions, DataRequest, GateRule) and the run it names (a RunRef).
"""

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from lenet_batch.checks import (
    FAIL_ON,
    GATE_RULES,
    NOTIFY_ON,
    NUMBER_RANGES,
    check_address,
    check_gate,
    check_monitoring,
    check_number,
    check_run_id,
    check_storage_options,
)
from lenet_batch.config_layers import NEGATED_FLAGS, coerce, flag_spellings, from_env, load_toml
from lenet_batch.errors import ConfigError
from lenet_batch.json_records import JsonRecord
from lenet_batch.redaction import has_secret, redact, redact_uri, redact_webhook
from lenet_batch.store import backends
from lenet_batch.store.backends import StorageOptions
from lenet_batch.store.layout import Layout, RunRef

DEFAULT_SEEDS = "0-3"
# NumPy's legacy seeding (np.random.seed) takes 0 .. 2**32-1; MXNet's seed is a C int that wraps, so every
# seed in that range still seeds it differently.
SEED_MAX = 2**32 - 1
BASELINE_PREVIOUS = "previous"  # --baseline previous: the latest earlier run with a complete summary
INFER_BATCH_SIZE = 8192  # images per scoring batch (--infer-batch-size): what a scoring task holds at once


@dataclass(frozen=True)
class Recipe(JsonRecord):
    """The training recipe of the seed article (LeNet-5, SGD, batch 256, 10 epochs); recorded as it is in
    metrics.json, checkpoints and summary.json (ints stay ints: 10 epochs, not 10.0)."""

    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.1
    mean: float = 0.13
    std: float = 0.31


@dataclass(frozen=True)
class ClusterOptions:
    """Where the seed tasks run and what each asks for (--address, --cpus/--gpus-per-seed, --max-retries)."""

    address: str = ""  # empty: $RAY_ADDRESS was not set either; a local Ray is started for the stage
    cpus_per_seed: float = 1.0
    gpus_per_seed: float = 0.0
    max_retries: int = 3
    connect_timeout: float = 30.0  # seconds to reach the cluster at `address` before giving up (exit 9)


@dataclass(frozen=True)
class DataRequest:
    """Which Fashion-MNIST to load (--data; empty: the usual places), whether to check its digests, and the
    class-balanced subset of each split to take (--train-limit, --test-limit; None: the whole split)."""

    uri: str = ""
    verify: bool = True
    train_limit: int | None = None
    test_limit: int | None = None


@dataclass(frozen=True)
class GateRule:
    """How the regression gate decides (--gate, --alpha, --min-effect, --max-drop, --confidence,
    --min-accuracy)."""

    rule: str = GATE_RULES[0]
    alpha: float = 0.01
    min_effect: float = 0.002
    max_drop: float = 0.01
    confidence: float = 0.9  # passed: the drop's one-sided upper bound at this level is below max_drop
    min_accuracy: float | None = None  # a floor under tonight's mean accuracy; None: no floor


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
    cpus_per_seed: float = ClusterOptions.cpus_per_seed
    gpus_per_seed: float = ClusterOptions.gpus_per_seed
    max_retries: int = ClusterOptions.max_retries
    address: str = ""  # empty: $RAY_ADDRESS, else a local Ray started for the run
    ray_connect_timeout: float = ClusterOptions.connect_timeout
    # Never in repr (it may hold credentials); carries storage_timeout/retries to every filesystem opened.
    storage_options: StorageOptions = field(default_factory=dict, repr=False)
    storage_timeout: float = backends.DEFAULT_TIMEOUT  # seconds to connect and for each read
    storage_retries: int = backends.DEFAULT_RETRIES  # attempts after the first on network errors
    input: str = ""  # images to score; empty: the Fashion-MNIST test split
    input_labels: str = ""  # IDX labels of --input when it is an IDX images file
    input_name: str = ""  # the partition name of a scored --input; empty: from the file name
    infer_batch_size: int = INFER_BATCH_SIZE
    baseline: str = BASELINE_PREVIOUS  # a run id, "previous" (the last earlier completed run), or "none"
    gate: str = GateRule.rule  # "welch": one-sided Welch t-test on per-seed accuracies; "threshold": max_drop
    alpha: float = GateRule.alpha  # welch: significance level of the one-sided test
    min_effect: float = GateRule.min_effect  # welch: smallest drop of mean accuracy that counts
    max_drop: float = GateRule.max_drop  # threshold (and the fallback with < 2 seeds a side): allowed drop
    confidence: float = GateRule.confidence  # welch: level of the drop's upper bound that a pass needs
    min_accuracy: float | None = GateRule.min_accuracy  # fail any night whose mean is below; None: off
    fail_on: str = FAIL_ON[0]  # inconclusive: exit 8 on an inconclusive night (and 4 on a regressed one)
    reference_window: int = 7  # nights back to look for the reference night (slow drift)
    stale_lock_seconds: int = 6 * 3600
    query_timeout: float = 300.0  # `query --timeout`: seconds before a query is stopped (exit 2)
    train_limit: int | None = None  # a class-balanced subset of the train split (smoke runs; data/limits.py)
    test_limit: int | None = None  # ... and of the test split
    notify: str = ""  # a webhook URL the nightly POSTs its outcome to (monitor/notify.py); empty: none
    notify_on: str = NOTIFY_ON[0]  # problems: failed nights, failed seeds, regressions; always: every night
    notify_timeout: float = 10.0  # seconds the hook may take in all, its one retry included
    metrics_file: str = ""  # a Prometheus textfile the nightly and `check` write (monitor/metrics.py)
    max_age: str = "26h"  # `check`: a night older than this without a success is stale
    report_base_url: str = ""  # the http(s) URL that serves the output's root: links in the hook, check, runs

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

    def cluster(self) -> ClusterOptions:
        """Where seed tasks run and what each asks Ray for."""
        return ClusterOptions(
            self.address, self.cpus_per_seed, self.gpus_per_seed, self.max_retries, self.ray_connect_timeout
        )

    def data_request(self) -> DataRequest:
        """Which dataset to load, and whether to verify it."""
        return DataRequest(self.data, self.verify_data, self.train_limit, self.test_limit)

    def gate_rule(self) -> GateRule:
        """How the summary's regression gate decides."""
        return GateRule(
            self.gate, self.alpha, self.min_effect, self.max_drop, self.confidence, self.min_accuracy
        )

    def seed_list(self) -> list[int]:
        """The seeds as a sorted list of ints (DEFAULT_SEEDS when none were given)."""
        return parse_seeds(DEFAULT_SEEDS if self.seeds is None else self.seeds)

    def given_seeds(self) -> list[int] | None:
        """The seeds given by flag, environment or file; None when none were."""
        return parse_seeds(self.seeds) if self.seeds is not None else None

    def resolved_run_id(self) -> str:
        """The run id, defaulting to today's UTC date."""
        return self.run_id or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")

    def layout(self) -> Layout:
        """The output location these settings name."""
        return Layout(self.output, self.storage_options)

    def run_ref(self) -> RunRef:
        """The run these settings name, in their output location."""
        return self.layout().run(self.resolved_run_id())

    def public_record(self) -> dict[str, Any]:
        """The settings as run.json records them: values of secret-looking keys masked at any depth."""
        recorded = dataclasses.asdict(self)
        # The timeout and retries are recorded once, as storage_timeout and storage_retries.
        recorded["storage_options"] = {
            k: v for k, v in self.storage_options.items() if k not in backends.RESERVED
        }
        recorded["notify"] = redact_webhook(self.notify)  # a webhook's path is often its secret
        return redact(recorded)


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


def resolve(
    flags: Mapping[str, Any], env: Mapping[str, str] | None = None, config_path: str | None = None
) -> Settings:
    """Merge defaults < TOML file < environment < flags (flags given as None are ignored)."""
    kinds = {f.name: f.type for f in fields(Settings)}
    layers = [  # (values, where from, given as text): only environment variables are text to convert
        (load_toml(config_path) if config_path else {}, f"--config {config_path}", False),
        (from_env(os.environ if env is None else env, kinds), "environment", True),
        ({k: v for k, v in flags.items() if v is not None}, "flag", False),
    ]
    merged: dict[str, Any] = {}
    for values, origin, text in layers:
        for name, value in flag_spellings(values, origin, from_text=text).items():
            if name not in kinds:
                known = ", ".join(sorted([*kinds, *NEGATED_FLAGS]))
                raise ConfigError(f"{origin}: unknown setting {name!r} (known: {known})")
            merged[name] = coerce(name, kinds[name], value, origin, from_text=text)
    settings = dataclasses.replace(Settings(), **merged)
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    """Reject values no run could use, naming the flag: before any data is read or anything is written."""
    if s.seeds is not None and not str(s.seeds).strip():
        raise ConfigError("--seeds is empty; give K, A-B or A,B,C (leave it out for the default 0-3)")
    s.seed_list()
    for name, flag, low, high, low_excluded in NUMBER_RANGES:
        check_number(flag, getattr(s, name), low, high, low_excluded)
    if 0 < s.gpus_per_seed < 0.0001:
        raise ConfigError(f"--gpus-per-seed {s.gpus_per_seed:g}: Ray counts GPUs in steps of 0.0001")
    for flag, value in (("--run-id", s.run_id), ("--input-name", s.input_name)):
        if value:
            check_run_id(value, flag)
    check_gate(s)
    if s.baseline and s.baseline != BASELINE_PREVIOUS:
        check_run_id(s.baseline, "--baseline")  # a run of this output, never a path: no escape from it
    if not s.output:
        raise ConfigError("--output must not be empty")
    _check_local_output(s.output)
    if has_secret(s.output):  # it names every report, link and line about the run: it cannot stay secret
        raise ConfigError(
            f"--output {redact_uri(s.output)}: credentials in the output URI would be written into "
            "reports and printed; give them as --storage-option (e.g. username=…, password=…) or in the "
            "environment (AWS_…)"
        )
    for flag, uri in (("--output", s.output), ("--data", s.data), ("--input", s.input)):
        if uri:
            backends.check_protocol(uri, flag)
    check_monitoring(s)
    if s.input_labels and not s.input:
        raise ConfigError("--input-labels goes with an IDX --input; give --input too")
    if s.address:
        check_address(s.address)
    check_storage_options(s.storage_options)


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
