"""What a run's summary is, as typed values: summary.json's schema, read and written by its records.

The summary stage builds a RunSummary; the gate adds its Comparison; the report, the history, the nightly
and the CLI read attributes. Only to_json()/from_json() (json_records) see a dict.
Schema version 2 added `schema_version` to the keys of version 1 (which had none); version 3 added what was
scored (`scored`), what the summary was made from (`inputs_digest`), the comparison's `changes` and test
data, the machine in the run metadata, and `ci95_clipped`; version 4 the gate's third verdict, its evidence
and the reference night (summary/comparison.py). Every version reads: a field a version did not write reads
as its default (None: not computed), never as a claim that version did not make.
"""

from dataclasses import dataclass, field, replace
from typing import ClassVar

from lenet_batch.json_records import JsonRecord, decode
from lenet_batch.provenance import Machine
from lenet_batch.records import DataInfo, GitCommit
from lenet_batch.summary.comparison import (
    NOT_COMPARABLE,
    VERDICTS,
    Change,
    Comparison,
    Delta,
    ReferenceCheck,
    SeedCounts,
    WelchTest,
    changes_text,
)

__all__ = [  # the gate's records (summary/comparison.py) are read from here too
    "SCHEMA_VERSION",
    "MIN_INTERVAL_SEEDS",
    "NOT_COMPARABLE",
    "VERDICTS",
    "Change",
    "ClassRow",
    "Comparison",
    "Delta",
    "Disagreement",
    "Ensemble",
    "Interval",
    "MajorityVote",
    "ReferenceCheck",
    "RunMetadata",
    "RunSummary",
    "ScoredInput",
    "SeedAttempts",
    "SeedCounts",
    "SeedPair",
    "SeedRow",
    "Spread",
    "StageTime",
    "VersionRow",
    "WelchTest",
    "changes_text",
]
SCHEMA_VERSION = 4
MIN_INTERVAL_SEEDS = 3  # below, a t-interval is too wide to mean anything: "too few seeds for an interval"


@dataclass(frozen=True)
class Interval(JsonRecord):
    """A confidence interval of a mean; written as [low, high]."""

    low: float
    high: float

    def to_json(self) -> list[float]:  # type: ignore[override]
        return [self.low, self.high]

    @classmethod
    def from_json(cls, doc: object, where: str = "") -> "Interval":  # type: ignore[override]
        low, high = decode(tuple[float, float], doc, where or "interval")
        return cls(low, high)


@dataclass(frozen=True)
class Spread(JsonRecord):
    """Per-seed values described: count, mean, std (ddof=1), min, max, the 95% t-interval of the mean."""

    n_seeds: int = 0
    mean: float | None = None
    std: float | None = None  # None below 2 values
    min: float | None = None
    max: float | None = None
    ci95: Interval | None = None  # None below MIN_INTERVAL_SEEDS values (documents before v3: below 2)
    ci95_clipped: bool = False  # the t-interval reached past a bound of the quantity and was cut there

    def interval(self) -> Interval | None:
        """The 95% CI as shown: None below MIN_INTERVAL_SEEDS seeds, whatever an older document holds."""
        return self.ci95 if self.n_seeds >= MIN_INTERVAL_SEEDS else None


@dataclass(frozen=True)
class SeedRow(JsonRecord):
    """One seed: accuracy from its predictions, its training numbers, attempts, hosts, disagreement."""

    run_id: str
    seed: int
    n_samples: int
    test_accuracy: float
    metrics_test_accuracy: float | None = None  # the last epoch's evaluation during training
    final_train_loss: float | None = None
    final_train_accuracy: float | None = None
    train_seconds: float | None = None
    epochs: int | None = None
    attempts: int | None = None
    hosts: str | None = None
    mean_disagreement: float | None = None  # None with one seed


@dataclass(frozen=True)
class ClassRow(JsonRecord):
    """One class across seeds: mean, std, min and max accuracy, and the ensemble's."""

    JSON_NAMES: ClassVar[dict[str, str]] = {"class_index": "class"}

    class_index: int
    class_name: str
    mean: float
    std: float | None
    min: float
    max: float
    n_samples: int
    ensemble_accuracy: float | None = None


@dataclass(frozen=True)
class Ensemble(JsonRecord):
    """The ensemble's accuracy over the samples every seed scored."""

    accuracy: float
    n_samples: int
    method: str = ""


@dataclass(frozen=True)
class MajorityVote(JsonRecord):
    """The majority vote's accuracy and how it breaks ties."""

    accuracy: float
    tie_break: str = ""


@dataclass(frozen=True)
class SeedPair(JsonRecord):
    """Two seeds and the share of samples they predict differently."""

    seeds: tuple[int, int]
    disagreement: float


@dataclass(frozen=True)
class Disagreement(JsonRecord):
    """Pairwise disagreement: statistics over the pairs, and the matrix up to matrix_max_seeds seeds."""

    seeds: tuple[int, ...]
    n_pairs: int
    mean: float | None = None
    median: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] | None = None  # p10, p25, p50, p75, p90
    most_different_pair: SeedPair | None = None
    matrix: tuple[tuple[float, ...], ...] | None = None
    matrix_max_seeds: int = 50
    pairs_file: str = "disagreement.parquet"


@dataclass(frozen=True)
class VersionRow(JsonRecord):
    """A package's version on the driver and in the seeds' workers ({version: number of seeds})."""

    package: str
    driver: str | None = None
    seeds: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StageTime(JsonRecord):
    """A stage's status, start, end and wall seconds as run.json recorded them."""

    stage: str
    status: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class SeedAttempts(JsonRecord):
    """A seed without predictions: how often and where it was tried."""

    seed: int
    attempts: int | None = None
    hosts: str | None = None


@dataclass(frozen=True)
class RunMetadata(JsonRecord):
    """What made the run: recipe, seeds, data, input, versions, commit, stage times, hosts and attempts."""

    recipe: dict[str, int | float | str]  # ints first: 10 epochs stay 10, not 10.0
    seeds: str  # as ranges: "0-3,7"
    data: DataInfo = field(default_factory=DataInfo)
    input: str | None = None
    versions: tuple[VersionRow, ...] = ()
    git: GitCommit | None = None
    created_at: str | None = None
    stages: tuple[StageTime, ...] = ()
    hosts: dict[str, int] = field(default_factory=dict)
    retried_seeds: tuple[int, ...] = ()
    failed_seed_attempts: tuple[SeedAttempts, ...] = ()
    machine: Machine | None = None  # the driver's host as run.json recorded it (None before v3)


@dataclass(frozen=True)
class ScoredInput(JsonRecord):
    """What the summarised predictions were scored on: the input, its data source, digest and images."""

    name: str  # fashion-mnist:test for the run's evaluation
    source: str | None = None  # the data folder the test split came from
    digest: str | None = None  # records.digest_of_test_split of what was scored (None: not recorded)
    n_images: int = 0  # images each seed scored


@dataclass(frozen=True)
class RunSummary(JsonRecord):
    """A run's summary: summary.json, the report's numbers and the gate's comparison."""

    run_id: str
    seeds: tuple[int, ...]
    n_seeds: int
    class_names: tuple[str, ...]
    across_seeds: Spread
    train_seconds: Spread
    per_seed: tuple[SeedRow, ...]
    per_class: tuple[ClassRow, ...]
    ensemble: Ensemble
    majority_vote: MajorityVote
    disagreement: Disagreement
    confusion_matrix: tuple[tuple[int, ...], ...]  # rows: true class, columns: ensemble prediction
    failed_seeds: tuple[int, ...] = ()
    comparison: Comparison | None = None
    report_html: str = ""
    report_md: str = ""
    files: tuple[str, ...] = ()
    generated_at: str = ""
    run_metadata: RunMetadata | None = None
    scored: ScoredInput | None = None  # None in documents before v3
    inputs_digest: str = ""  # what the summary was made from: unchanged inputs reuse it (summary/reuse.py)
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def from_json(cls, doc: object, where: str = "summary.json") -> "RunSummary":
        """A summary.json of any schema version (version 1 documents have no schema_version key)."""
        summary = super().from_json(doc, where)
        if isinstance(doc, dict) and "schema_version" not in doc:
            summary = replace(summary, schema_version=1)
        return summary

    def seed_accuracies(self) -> list[float]:
        """The per-seed test accuracies, in seed order."""
        return [row.test_accuracy for row in self.per_seed]
