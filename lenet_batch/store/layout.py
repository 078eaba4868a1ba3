"""Where every output lives under one output URI, and the handle of a run in it (the tree: README)."""

from dataclasses import dataclass, field

from lenet_batch.store.backends import StorageOptions
from lenet_batch.store.storage import join

MARKER = "_COMMITTED.json"  # a partition's commit marker: written last, readers list only marked ones


@dataclass(frozen=True)
class Layout:
    """An output location (URI and its storage options) and its output-level paths."""

    output: str
    options: StorageOptions = field(default_factory=dict, compare=False, repr=False)  # may hold secrets

    def runs_root(self) -> str:
        return join(self.output, "runs")

    def predictions_root(self) -> str:
        return join(self.output, "predictions")

    def staging_dir(self) -> str:
        # Underscore-prefixed: pyarrow, Spark and Hive skip it; staged files do not end in .parquet.
        return join(self.predictions_root(), "_staging")

    def scored_root(self) -> str:
        # Scorings of other image sets (infer --input): apart from the run's evaluation in predictions/.
        return join(self.output, "scored")

    def history_dir(self) -> str:
        return join(self.output, "history")

    def lock(self) -> str:
        return join(self.output, "_lock.json")

    def heartbeat(self) -> str:
        return join(self.output, "_last_success.json")

    def run(self, run_id: str) -> "RunRef":
        """The handle of one run under this output."""
        return RunRef(self.output, run_id, self.options)


@dataclass(frozen=True)
class RunRef:
    """A run in an output location: what every stage needs to find and write its files."""

    output: str
    run_id: str
    options: StorageOptions = field(default_factory=dict, compare=False, repr=False)  # may hold secrets

    @property
    def layout(self) -> Layout:
        return Layout(self.output, self.options)

    @property
    def run_dir(self) -> str:
        return join(self.output, "runs", self.run_id)

    @property
    def run_json(self) -> str:
        return join(self.run_dir, "run.json")

    @property
    def summary_dir(self) -> str:
        return join(self.run_dir, "summary")

    @property
    def summary_json(self) -> str:
        return join(self.summary_dir, "summary.json")

    @property
    def logs_dir(self) -> str:
        return join(self.run_dir, "logs")

    @property
    def seeds_dir(self) -> str:
        return join(self.run_dir, "seeds")

    def seed_dir(self, seed: int) -> str:
        return join(self.seeds_dir, f"seed={seed}")

    def model_params(self, seed: int) -> str:
        return join(self.seed_dir(seed), "model.params")

    def metrics_json(self, seed: int) -> str:
        return join(self.seed_dir(seed), "metrics.json")

    def checkpoint_dir(self, seed: int) -> str:
        return join(self.seed_dir(seed), "checkpoint")

    def attempts_json(self, seed: int) -> str:
        return join(self.seed_dir(seed), "attempts.json")

    def partition_dir(self, seed: int) -> str:
        return join(self.layout.predictions_root(), f"run_id={self.run_id}", f"seed={seed}")

    def input_partition_dir(self, input_name: str, seed: int) -> str:
        """Where one seed's predictions on a named --input go (never the evaluation partition)."""
        return join(self.layout.scored_root(), f"input={input_name}", f"run_id={self.run_id}", f"seed={seed}")

    def marker_json(self, seed: int, input_name: str | None = None) -> str:
        """The commit marker of a seed's evaluation partition, or of its partition of a named --input."""
        folder = (
            self.partition_dir(seed) if input_name is None else self.input_partition_dir(input_name, seed)
        )
        return join(folder, MARKER)

    def with_run_id(self, run_id: str) -> "RunRef":
        """Another run in the same output (e.g. the baseline)."""
        return RunRef(self.output, run_id, self.options)
