"""A seed's records and results: metrics.json of a finished seed, its checkpoint's latest.json, its
attempts, its partition's commit marker, and its rows in the run's tables.

Each record is one typed value: its writer builds it, its reader (state/run_state.py) parses it; a file
that is not the expected JSON object is a DataError naming it.
"""

import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lenet_batch.config import Recipe
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
    recipe: Recipe
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


@dataclass(frozen=True)
class CheckpointPointer(JsonRecord):
    """A seed's checkpoint/latest.json: the last finished epoch, its parameters file and digest, the
    metrics so far, and the recipe and data they were trained with (None in older checkpoints)."""

    epoch: int
    params: str
    history: tuple[EpochMetrics, ...]
    params_sha256: str | None = None
    recipe: Recipe | None = None
    data: DataInfo | None = None


@dataclass(frozen=True)
class Marker(JsonRecord):
    """_COMMITTED.json: a partition's file, rows and size, the model and the input it was made from.

    A partition whose marker names the model a seed has now and the input about to be scored is not scored
    again (the infer stage's skip): `input_sha256` is records.digest_of_test_split for the test split, the
    files' own SHA-256 for an --input (None in markers written before it was recorded).
    """

    file: str
    rows: int
    model_sha256: str
    bytes: int | None = None
    committed_at: str | None = None
    run_id: str | None = None
    seed: int | None = None
    input: str | None = None
    input_sha256: str | None = None
    data_source: str | None = None  # the test split's data folder (the run's evaluation)
    labelled: int | None = None  # rows with a label, and how many of those the model got right
    correct: int | None = None
    omp_num_threads: str | None = None  # the scores' bits depend on it (see cluster.resources)
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept

    def accuracy(self) -> float | None:
        """The share of labelled rows predicted right (None: no labels, or not recorded)."""
        return self.correct / self.labelled if self.labelled and self.correct is not None else None


@dataclass(frozen=True)
class TrainResult:
    """A seed's row in the train stage's table, and the metrics.json its training wrote (None: none)."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("seed", "status", "test_accuracy", "train_seconds", "attempts")

    seed: int
    status: str  # trained, resumed, skipped or failed
    test_accuracy: float | None = None
    train_seconds: float | None = None
    attempts: int | None = None
    error: str | None = None
    metrics: SeedMetrics | None = field(default=None, repr=False, compare=False)

    def entry(self) -> SeedEntry:
        """The seed's row as run.json records it."""
        return SeedEntry(
            self.seed, self.status, self.test_accuracy, self.train_seconds, self.attempts, error=self.error
        )

    def to_row(self) -> dict[str, Any]:
        """The seed's row as the CLI prints it (and --json): `error` only when there is one."""
        return _row(self, self.COLUMNS)

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
    """A seed's row in the infer stage's table, and the partition marker its scoring wrote (None: none)."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("seed", "status", "rows", "accuracy", "seconds")

    seed: int
    status: str  # scored, skipped or failed
    rows: int | None = None
    accuracy: float | None = None
    seconds: float | None = None
    error: str | None = None
    marker: Marker | None = field(default=None, repr=False, compare=False)

    def entry(self) -> SeedEntry:
        """The seed's row as run.json records it."""
        return SeedEntry(
            self.seed,
            self.status,
            rows=self.rows,
            accuracy=self.accuracy,
            seconds=self.seconds,
            error=self.error,
        )

    def to_row(self) -> dict[str, Any]:
        """The seed's row as the CLI prints it (and --json): `error` only when there is one."""
        return _row(self, self.COLUMNS)

    def describe(self) -> str:
        """One progress line: 'seed 3: scored 10000 images, accuracy 0.8812, 1.2 s'."""
        if self.status == "failed":
            return f"seed {self.seed}: failed: {self.error}"
        accuracy = "" if self.accuracy is None else f", accuracy {self.accuracy:.4f}"
        return f"seed {self.seed}: {self.status} {self.rows} images{accuracy}, {self.seconds:.1f} s"


def _row(result: "TrainResult | ScoreResult", columns: tuple[str, ...]) -> dict[str, Any]:
    row = {name: getattr(result, name) for name in columns}
    return row if result.error is None else {**row, "error": result.error}


def progress_line(result: TrainResult | ScoreResult, done: int, total: int) -> str:
    """The driver's line for a finished seed, on every path: '<describe()> [k/n seeds done]'."""
    return f"{result.describe()} [{done}/{total} seeds done]"


def score_failure(seed: int, error: str) -> ScoreResult:
    """The result of a seed that could not be scored, logged as an error (seen under -q too)."""
    log.error("seed %d: not scored: %s", seed, error)
    return ScoreResult(seed, "failed", error=error[:500])


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
