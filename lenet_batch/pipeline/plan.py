"""What a command will do to a run, worked out once from its state (pure): for each stage and each seed,
do it or skip it, each with its reason; or refuse the whole command, saying why.

`train`, `infer`, `summary` and `nightly` read the run's state, plan, and then either print the plan
(`--dry-run`, in words or as --json) or carry it out (pipeline/stages.py). "Nothing to do" is a plan with
nothing but skips. Refused: seeds that recorded another recipe or other data than asked (the manifests'
comparison), a seed whose metrics.json does not read, seeds to score that have no finished model, any work
on a pruned night, and a recorded verdict judged again against another baseline or by another rule (unless
--force: a what-if is `compare`'s, which writes nothing).
"""

from dataclasses import dataclass, field

from lenet_batch.config import GateRule, Recipe
from lenet_batch.errors import ConfigError, DataError, ModelFileError
from lenet_batch.json_records import JsonRecord
from lenet_batch.records import DataInfo
from lenet_batch.state.manifest import Change, Manifest
from lenet_batch.state.run_state import RunState, SeedState
from lenet_batch.summary.types import SCHEMA_VERSION, RunSummary

TRAIN, RESUME, SCORE, SUMMARISE, BUILD, RECORD, SKIP = (
    "train",
    "resume",
    "score",
    "summarise",
    "build",
    "record",
    "skip",
)
WHOLE_STAGE = None  # a step of the stage as a whole (summary, history, a stage entry of run.json)


@dataclass(frozen=True)
class Step(JsonRecord):
    """One thing the plan does (or skips), and why: a seed's (seed set) or the stage's (seed None)."""

    stage: str
    seed: int | None
    action: str
    reason: str
    from_epoch: int | None = None  # train: 1; resume: the epoch after its checkpoint

    @property
    def does(self) -> bool:
        return self.action != SKIP


@dataclass(frozen=True)
class Plan:
    """Every step of a command on one run, in stage order."""

    run_id: str
    steps: tuple[Step, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to do: every step is a skip."""
        return not any(s.does for s in self.steps)

    def stage(self, stage: str) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.stage == stage)

    def seeds(self, stage: str, *actions: str) -> list[int]:
        """The seeds of a stage whose action is one of `actions` (any but skip when none are given)."""
        return [
            s.seed
            for s in self.stage(stage)
            if s.seed is not None and (s.action in actions or (not actions and s.does))
        ]

    def does(self, stage: str) -> bool:
        return any(s.does for s in self.stage(stage))


@dataclass(frozen=True)
class Request:
    """What a command asks of a run: its stages and seeds, the recipe and data, and what is known of them."""

    stages: tuple[str, ...]
    seeds: tuple[int, ...] | None  # None: every finished seed (infer, summary)
    recipe: Recipe = field(default_factory=Recipe)
    data: DataInfo | None = None  # the loaded data's identity (None: not loaded, not compared)
    test_split: str | None = None  # the digest the evaluation scores (None: unknown until loaded)
    summary_digest: str | None = None  # what a summary would be made from (summary/reuse.inputs_digest)
    pictures: bool = False  # the test split is at hand for the report's pictures
    force: bool = False  # score and summarise again what is done
    judged_by: tuple[str | None, GateRule] | None = None  # a summary's baseline run id (None: none) and rule


def conflict_line(run_id: str, conflicts: dict[int, list[Change]]) -> str:
    """One line: each differing key with its recorded value(s), the seeds recording them, and the request."""
    by_key: dict[str, dict[str, list[int]]] = {}
    asked: dict[str, str | None] = {}
    for seed, changes in conflicts.items():
        for c in changes:
            by_key.setdefault(c.key, {}).setdefault(str(c.baseline), []).append(seed)
            asked[c.key] = c.current
    parts = [
        f"{key} recorded {', '.join(f'{v} (seeds {s})' for v, s in recorded.items())}, requested {asked[key]}"
        for key, recorded in by_key.items()
    ]
    return (
        f"run {run_id} holds seeds made with other settings: {'; '.join(parts)}. "
        "Nothing was written: use a new --run-id, or the recorded settings"
    )


def refuse_other_settings(state: RunState, request: Request) -> None:
    """ConfigError (exit 2) when any seed of the run recorded another recipe or data than asked: a run
    keeps one recipe on one dataset."""
    asked = Manifest(recipe=request.recipe, data=request.data)
    conflicts: dict[int, list[Change]] = {}
    for seed, seed_state in sorted((state.seeds or {}).items()):
        recorded = seed_state.manifest()
        if recorded is not None and request.data is None:
            recorded = Manifest(recipe=recorded.recipe)  # data not loaded yet: compared once it is
        changes = asked.differences(recorded, identity_only=True) if recorded is not None else []
        if changes:
            conflicts[seed] = changes
    if conflicts:
        raise ConfigError(conflict_line(state.run_id, conflicts))


def _train_step(seed: SeedState) -> Step:
    if seed.finished:
        accuracy = seed.metrics.test_accuracy if seed.metrics else None
        return Step("train", seed.seed, SKIP, f"complete (test accuracy {accuracy:.4f})")
    if seed.checkpoint is not None and seed.checkpoint.recipe is None:
        return Step("train", seed.seed, TRAIN, "its checkpoint records no recipe (older version)", 1)
    if seed.epoch:
        return Step("train", seed.seed, RESUME, f"checkpoint after epoch {seed.epoch}", seed.epoch + 1)
    return Step("train", seed.seed, TRAIN, "nothing recorded", 1)


def plan_train(state: RunState, request: Request) -> list[Step]:
    """Each asked-for seed: train, resume or skip; and run.json's train entry when it lacks them."""
    refuse_other_settings(state, request)
    steps = [_train_step(state.seed(s)) for s in request.seeds or ()]
    record = state.record
    recorded = {r.seed for r in record.stage_seeds("train")} if record else set()
    if not any(s.does for s in steps) and (
        state.stage_status("train") != "complete" or not set(request.seeds or ()) <= recorded
    ):
        steps.append(Step("train", WHOLE_STAGE, RECORD, "run.json does not record these seeds' training"))
    return steps


def _score_step(state: RunState, seed: int, request: Request, trained_tonight: set[int]) -> Step:
    if seed in trained_tonight:
        return Step("infer", seed, SCORE, "trained tonight")
    if request.force:
        return Step("infer", seed, SCORE, "--force")
    s = state.seed(seed)
    if s.marker is None:
        return Step("infer", seed, SCORE, "no committed predictions")
    if request.test_split is None or s.marker.input_sha256 != request.test_split:
        return Step(
            "infer",
            seed,
            SCORE,
            f"its predictions were scored on {s.marker.input_sha256 or 'an unrecorded input'}",
        )
    if s.metrics is None or s.marker.model_sha256 != s.metrics.model_sha256:
        return Step("infer", seed, SCORE, "its model changed since it was scored")
    return Step("infer", seed, SKIP, f"already scored from its model and input {request.test_split}")


def scoring_seeds(state: RunState, request: Request, trained_tonight: set[int]) -> list[int]:
    """The seeds to score: those asked for (each with a finished model, or trained tonight), else every
    finished one; ModelFileError or DataError (exit 2) when there is none to score."""
    finished = set(state.finished_seeds()) | trained_tonight
    if request.seeds is None:
        if not finished:
            raise DataError(f"run {state.run_id}: no seed has finished training; nothing to score")
        return sorted(finished)
    missing = [s for s in request.seeds if s not in finished]
    if missing:
        raise ModelFileError(
            f"run {state.run_id} has no finished model for seed(s) {missing} (trained: "
            f"{sorted(finished) or 'none'}); train them first, or leave them out of --seeds. Nothing was "
            "scored"
        )
    return list(request.seeds)


def plan_infer(state: RunState, request: Request, trained_tonight: set[int]) -> list[Step]:
    """Each seed to score: score it or skip it (already scored from its model and this input)."""
    seeds = scoring_seeds(state, request, trained_tonight)
    steps = [_score_step(state, seed, request, trained_tonight) for seed in seeds]
    recorded = {r.seed for r in state.record.stage_seeds("infer")} if state.record else set()
    if not any(s.does for s in steps) and (
        state.stage_status("infer") != "complete" or not set(seeds) <= recorded
    ):
        steps.append(Step("infer", WHOLE_STAGE, RECORD, "run.json does not record these seeds' scoring"))
    return steps


def _summary_reason(summary: RunSummary | None, request: Request) -> str | None:
    """Why the run's summary must be made (again), or None when it stands."""
    if summary is None:
        return "no summary yet"
    if request.force:
        return "--force"
    if summary.schema_version != SCHEMA_VERSION:
        return f"its summary.json is of schema {summary.schema_version}"
    if request.summary_digest is None or summary.inputs_digest != request.summary_digest:
        return f"its inputs changed since its summary of {summary.generated_at}"
    if request.pictures and "train_images.png" not in summary.files:
        return "its report lacks the image pictures"
    return None


def plan_summary(state: RunState, request: Request, earlier: list[Step]) -> Step:
    """Summarise when anything before does work or the summary's inputs changed; else skip."""
    if any(s.does for s in earlier):
        return Step("summary", WHOLE_STAGE, SUMMARISE, "its predictions change tonight")
    reason = _summary_reason(state.summary, request)
    if reason is not None:
        return Step("summary", WHOLE_STAGE, SUMMARISE, reason)
    return Step(
        "summary", WHOLE_STAGE, SKIP, f"nothing new since its summary of {state.summary.generated_at}"
    )


def plan_history(state: RunState, earlier: list[Step]) -> Step:
    """Rebuild the history when the night does anything, or when its history was never recorded as built."""
    if any(s.does for s in earlier):
        return Step("history", WHOLE_STAGE, BUILD, "the night changes")
    if state.stage_status("history") != "complete":
        return Step("history", WHOLE_STAGE, BUILD, "its history was not recorded as built")
    return Step("history", WHOLE_STAGE, SKIP, "built after the night's summary")


def refuse_damaged(state: RunState) -> None:
    """DataError (exit 2) naming run.json, or a finished seed's record, that does not read: no stage can use
    the run, or that seed (a summary.json that does not read is made again)."""
    if state.record_problem:
        raise DataError(f"{state.record_problem}; restore it, or use a new --run-id")
    for seed, seed_state in sorted((state.seeds or {}).items()):
        if seed_state.problems:
            raise DataError(
                f"seed {seed} of run {state.run_id}: {seed_state.problems[0]}; restore it, or move the "
                "seed's folder away to train it again"
            )


def refuse_pruned(state: RunState, steps: list[Step]) -> None:
    """ConfigError (exit 2) for work on a pruned night: its predictions and models are gone for good."""
    pruning = state.record.pruning if state.record is not None else None
    doing = next((s for s in steps if s.does), None)
    if pruning is not None and doing is not None:
        raise ConfigError(
            f"run {state.run_id} was pruned ({pruning.started_at}, --keep {pruning.keep}): its predictions, "
            f"models and logs are gone, its records stay; `{doing.stage}` cannot {doing.action} it. Nothing "
            "was written: use a new --run-id"
        )


RULE_FIELDS = ("rule", "alpha", "min_effect", "max_drop", "confidence", "min_accuracy")


def refuse_another_verdict(state: RunState, baseline_run_id: str | None, rule: GateRule) -> None:
    """ConfigError (exit 2, nothing written) when the run's summary recorded a verdict against another
    baseline or by another rule than asked now: a what-if never replaces a night's verdict."""
    recorded = state.summary.comparison if state.summary is not None else None
    if recorded is None or not recorded.verdict:
        return
    same_rule = all(getattr(recorded, name, None) == getattr(rule, name) for name in RULE_FIELDS)
    if recorded.baseline_run_id == baseline_run_id and same_rule:
        return
    against = f"against {recorded.baseline_run_id}" if recorded.baseline_run_id else "with no baseline"
    asked = f"against {baseline_run_id}" if baseline_run_id else "with no baseline"
    raise ConfigError(
        f"run {state.run_id} was judged {recorded.outcome()} {against} by the {recorded.rule} rule; "
        f"judging it {asked} by the rule asked now would replace that verdict. Use `lenet-batch compare` to "
        "see another comparison (it writes nothing), or --force to replace the verdict"
    )


def plan(state: RunState, request: Request) -> Plan:
    """The command's plan on the run (refusals raise: ConfigError, DataError or ModelFileError, exit 2)."""
    refuse_damaged(state)
    if "summary" in request.stages and request.judged_by is not None and not request.force:
        refuse_another_verdict(state, *request.judged_by)
    steps: list[Step] = []
    if "train" in request.stages:
        steps += plan_train(state, request)
    trained_tonight = {s.seed for s in steps if s.stage == "train" and s.does and s.seed is not None}
    if "infer" in request.stages:
        steps += plan_infer(state, request, trained_tonight)
    if "summary" in request.stages:
        steps.append(plan_summary(state, request, steps))
    if "history" in request.stages:
        steps.append(plan_history(state, steps))
    refuse_pruned(state, steps)
    return Plan(state.run_id, tuple(steps))
