"""A seed's records: metrics.json of a finished seed, its attempts, and its rows in the run's tables.

Each record is a typed value written to and read from JSON here only; a file that is not the expected JSON
object is a DataError naming it.
"""

import logging
import os
import re
import socket
from dataclasses import asdict, dataclass, field
from typing import Any

from lenet_batch.errors import DataError
from lenet_batch.json_records import JsonRecord, decode
from lenet_batch.provenance import Machine, now_utc
from lenet_batch.records import Attempt, DataInfo
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.run_record import SeedEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochMetrics(JsonRecord):
    """What one epoch measured."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float


@dataclass(frozen=True)
class SeedMetrics(JsonRecord):
    """metrics.json of a finished seed: recipe, per-epoch metrics, provenance (written last: complete)."""

    run_id: str
    seed: int
    recipe: dict[str, int | float]  # Recipe's fields; ints first, so 10 epochs stay 10
    epochs: tuple[EpochMetrics, ...]
    model_sha256: str
    data: DataInfo = field(default_factory=DataInfo)
    versions: dict[str, str | None] = field(default_factory=dict)
    attempts: tuple[Attempt, ...] = ()
    train_seconds: float = 0.0
    wall_seconds_this_attempt: float = 0.0
    omp_num_threads: str | None = None
    machine: Machine | None = None  # CPU, oneDNN ISA, threads of its worker (seeds before it: None)
    context: str = "cpu(0)"
    finished_at: str = ""
    status: str = "complete"

    @property
    def test_accuracy(self) -> float:
        return self.epochs[-1].test_accuracy

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "test_accuracy": self.test_accuracy}

    @classmethod
    def from_json(cls, doc: Any, where: str = "metrics.json") -> "SeedMetrics":
        """Parse metrics.json; a file of the wrong shape is a DataError naming it."""
        try:
            metrics = super().from_json(doc, where)
        except DataError as exc:
            raise DataError(f"{where}: not a metrics.json of a finished seed ({exc})") from None
        if not metrics.epochs:
            raise DataError(f"{where}: not a metrics.json of a finished seed (no epochs)")
        return metrics


def _cli_row(result: "TrainResult | ScoreResult") -> dict[str, Any]:
    """A seed's result as the CLI's table and --json show it: every column, `error` only when there is one."""
    return {k: v for k, v in asdict(result).items() if k != "error" or v is not None}


@dataclass(frozen=True)
class TrainResult:
    """A seed's row in the train stage's table."""

    seed: int
    status: str  # trained, resumed, skipped or failed
    test_accuracy: float | None = None
    train_seconds: float | None = None
    attempts: int | None = None
    error: str | None = None

    def entry(self) -> SeedEntry:
        """The seed's row as run.json records it."""
        return SeedEntry(**asdict(self))

    def to_row(self) -> dict[str, Any]:
        """The seed's row as the CLI prints it (and --json)."""
        return _cli_row(self)

    def describe(self) -> str:
        """One progress line: 'seed 3: trained, test accuracy 0.8812, 41.2 s, 1 attempt(s)'."""
        if self.status == "failed":
            return f"seed {self.seed}: failed: {self.error}"
        return (
            f"seed {self.seed}: {self.status}, test accuracy {self.test_accuracy:.4f}, "
            f"{self.train_seconds:.1f} s of training, {self.attempts} attempt(s)"
        )


@dataclass(frozen=True)
class ScoreResult:
    """A seed's row in the infer stage's table."""

    seed: int
    status: str  # scored or failed
    rows: int | None = None
    accuracy: float | None = None
    seconds: float | None = None
    error: str | None = None

    def entry(self) -> SeedEntry:
        """The seed's row as run.json records it."""
        return SeedEntry(**asdict(self))

    def to_row(self) -> dict[str, Any]:
        """The seed's row as the CLI prints it (and --json)."""
        return _cli_row(self)

    def describe(self) -> str:
        """One progress line: 'seed 3: scored 10000 images, accuracy 0.8812, 1.2 s'."""
        if self.status == "failed":
            return f"seed {self.seed}: failed: {self.error}"
        accuracy = "" if self.accuracy is None else f", accuracy {self.accuracy:.4f}"
        return f"seed {self.seed}: {self.status} {self.rows} images{accuracy}, {self.seconds:.1f} s"


def progress_line(result: TrainResult | ScoreResult, done: int, total: int) -> str:
    """The driver's line for a finished seed, on every path: '<describe()> [k/n seeds done]'."""
    return f"{result.describe()} [{done}/{total} seeds done]"


def score_failure(seed: int, error: str) -> ScoreResult:
    """The result of a seed that could not be scored, logged as an error (seen under -q too)."""
    log.error("seed %d: not scored: %s", seed, error)
    return ScoreResult(seed, "failed", error=error[:500])


def load_complete(run: RunRef, seed: int) -> SeedMetrics | None:
    """The seed's metrics when its outputs are complete (metrics.json is written last), else None."""
    uri = run.metrics_json(seed)
    if not storage.exists(uri, run.options):
        return None
    doc = storage.read_json(uri, run.options)
    if isinstance(doc, dict) and doc.get("status") != "complete":
        return None
    return SeedMetrics.from_json(doc, uri)


def read_attempts(run: RunRef, seed: int) -> tuple[Attempt, ...]:
    """The seed's attempts so far (host, pid, start time); an unreadable file counts as none."""
    uri = run.attempts_json(seed)
    if not storage.exists(uri, run.options):
        return ()
    try:
        return decode(tuple[Attempt, ...], storage.read_json(uri, run.options), uri)
    except DataError as exc:  # informative only: the seed is retried all the same
        log.warning("ignoring %s: %s", uri, exc)
        return ()


def record_attempt(run: RunRef, seed: int) -> tuple[Attempt, ...]:
    """Append this attempt (host, pid, time) to attempts.json; returns them all."""
    before = read_attempts(run, seed)
    attempts = (*before, Attempt(len(before) + 1, socket.gethostname(), os.getpid(), now_utc()))
    storage.write_json_atomic(run.attempts_json(seed), [a.to_json() for a in attempts], run.options)
    return attempts


def require_run(run: RunRef) -> None:
    """A run that does not exist is a DataError naming where it was looked for."""
    if not storage.exists(run.run_dir, run.options):
        raise DataError(
            f"run {run.run_id!r} not found: {run.run_dir} does not exist "
            "(check --run and --output, or train it first)"
        )


def seed_folders(run: RunRef) -> list[int]:
    """Seeds that have a folder in the run, finished or not."""
    names = storage.list_dir(run.seeds_dir, run.options)
    return sorted(int(n.split("=", 1)[1]) for n in names if re.fullmatch(r"seed=\d+", n))


def trained_seeds(run: RunRef) -> list[int]:
    """Seeds of a run whose training is complete; a run that does not exist is a DataError."""
    require_run(run)
    return [s for s in seed_folders(run) if load_complete(run, s) is not None]
