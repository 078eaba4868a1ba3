"""The report's last section, what made the run: recipe (the input's normalisation named as such), seeds,
data and its digests, versions on the driver and in the workers, git commit, machine, stage wall times, the
hosts and attempts of each seed."""

from collections.abc import Mapping

from lenet_batch.records import digest_of_test_split
from lenet_batch.summary.report import Section, Table, duration_text, fmt
from lenet_batch.summary.types import DataInfo, GitCommit, RunMetadata

LISTED_SEEDS = 20  # seeds named in a sentence; the tables have them all


def _subset(data: DataInfo) -> str:
    """The smoke subset a run was made on, if any (--train-limit, --test-limit)."""
    parts = [f"{n:,} {split}" for split, n in (("train", data.train_limit), ("test", data.test_limit)) if n]
    return f" (a class-balanced subset: {' and '.join(parts)} images)" if parts else ""


def _git_text(git: GitCommit | None) -> str:
    if not git:
        return "Code: no git commit recorded (not run from a git checkout, or git was unavailable)."
    dirty = ", with uncommitted changes in the tree" if git.dirty else ", clean tree"
    return f"Code: git commit {git.commit}{dirty}."


def recipe_rows(recipe: Mapping[str, int | float | str]) -> list[list[str]]:
    """The recipe, a row a key; mean and std named for what they are, the input's normalisation."""
    norm = (recipe.get("mean"), recipe.get("std"))
    shown = all(isinstance(v, int | float) for v in norm)
    rows = [[k, f"{v:g}" if isinstance(v, float) else str(v)] for k, v in recipe.items()]
    rows = [row for row in rows if not (shown and row[0] in ("mean", "std"))]
    if shown:
        rows.append(["input normalisation", f"Normalize(mean={norm[0]:g}, std={norm[1]:g})"])
    return rows


def _provenance_tables(meta: RunMetadata) -> tuple[Table, ...]:
    """The recipe, the data's digests, the versions on the driver and in the seeds' workers, the stages."""
    recipe = Table(("recipe", "value"), recipe_rows(meta.recipe), title="Recipe")
    digests = meta.data.sha256
    data = Table(("file", "sha256"), [[name, str(d)] for name, d in digests.items()], title="Data digests")
    versions = []
    for v in meta.versions:
        same = list(v.seeds) == [str(v.driver)]
        on_seeds = (
            "—"
            if not v.seeds
            else "same"
            if same
            else ", ".join(f"{k} ({n} seeds)" for k, n in v.seeds.items())
        )
        versions.append([v.package, fmt(v.driver), on_seeds])
    stages = [
        [s.stage, fmt(s.status), fmt(s.started_at), fmt(s.finished_at), duration_text(s.seconds)]
        for s in meta.stages
    ]
    stage_header = ("stage", "status", "started (UTC)", "finished (UTC)", "wall time")
    return (
        recipe,
        *((data,) if digests else ()),
        Table(("package", "driver", "seeds' workers"), versions, title="Versions"),
        Table(stage_header, stages, title="Stages (the summary as of this report)"),
    )


def _hosts_tables(meta: RunMetadata) -> tuple[Table, ...]:
    """Seeds per host, and the attempts of seeds that left no predictions."""
    hosts = Table(
        ("host", "seeds that ran on it"),
        [[h, str(n)] for h, n in meta.hosts.items()],
        title="Hosts",
        noun="hosts",
    )
    if not meta.failed_seed_attempts:
        return (hosts,)
    rows = [[str(r.seed), fmt(r.attempts), r.hosts or "—"] for r in meta.failed_seed_attempts]
    return hosts, Table(("seed", "attempts", "hosts"), rows, title="Failed seeds", noun="failed seeds")


def _machine_text(meta: RunMetadata) -> str:
    m = meta.machine
    if m is None:
        return "Machine: not recorded."
    return (
        f"Machine (driver): {m.cpu_model or 'CPU unknown'}, oneDNN ISA {m.isa or '?'} (class "
        f"{m.isa_class or '?'}), OMP_NUM_THREADS {m.omp_num_threads or 'unset'}."
    )


def metadata_section(meta: RunMetadata) -> Section:
    """Recipe, seeds, data digests, versions, git commit, stage wall times, hosts and attempts."""
    retried = list(meta.retried_seeds)
    listed = ", ".join(map(str, retried[:LISTED_SEEDS])) + (", …" if len(retried) > LISTED_SEEDS else "")
    attempts = (
        f"{len(retried)} seed(s) needed more than one attempt: {listed} (the per-seed table has each "
        "seed's attempts and hosts)."
        if retried
        else "Every seed with predictions finished in its first attempt."
    )
    paragraphs = (
        f"Seeds: {meta.seeds or 'none'}; run created {fmt(meta.created_at)}.",
        _git_text(meta.git),
        f"Data: {fmt(meta.data.source)}{_subset(meta.data)} (test split "
        f"{digest_of_test_split(meta.data) or 'not recorded'}); scored input: {fmt(meta.input)}.",
        _machine_text(meta),
        attempts,
    )
    tables = (*_provenance_tables(meta), *_hosts_tables(meta))
    return Section("Run metadata", "metadata", paragraphs=paragraphs, tables=tables)
