"""The report's last section: what made this run (recipe, seeds, data, versions, commit, stages, hosts)."""

from typing import Any

from lenet_batch.summary.report import fmt
from lenet_batch.summary.report_model import Section, Table

LISTED_SEEDS = 20  # seeds named in a sentence; the tables have them all


def _git_text(git: dict[str, Any] | None) -> str:
    if not git:
        return "Code: no git commit recorded (not run from a git checkout, or git was unavailable)."
    dirty = ", with uncommitted changes in the tree" if git.get("dirty") else ", clean tree"
    return f"Code: git commit {git.get('commit')}{dirty}."


def _data_tables(meta: dict[str, Any]) -> tuple[Table, ...]:
    """The recipe and the data's digests."""
    recipe = Table(("recipe", "value"), [[k, fmt(v)] for k, v in meta["recipe"].items()], title="Recipe")
    digests = (meta.get("data") or {}).get("sha256") or {}
    data = Table(("file", "sha256"), [[name, str(d)] for name, d in digests.items()], title="Data digests")
    return (recipe, data) if digests else (recipe,)


def _versions_table(meta: dict[str, Any]) -> Table:
    """Versions on the driver (run.json) and in the seeds' metrics.json (workers on the cluster's nodes)."""
    rows = []
    for v in meta["versions"]:
        seeds = v.get("seeds") or {}
        if not seeds:
            on_seeds = "—"
        elif list(seeds) == [str(v.get("driver"))]:
            on_seeds = "same"
        else:
            on_seeds = ", ".join(f"{version} ({n} seeds)" for version, n in seeds.items())
        rows.append([v["package"], fmt(v.get("driver")), on_seeds])
    return Table(("package", "driver", "seeds' workers"), rows, title="Versions")


def _stages_table(meta: dict[str, Any]) -> Table:
    """Each stage's status, start, end and wall seconds."""
    rows = [
        [
            s["stage"],
            fmt(s.get("status")),
            fmt(s.get("started_at")),
            fmt(s.get("finished_at")),
            fmt(s.get("seconds"), 1),
        ]
        for s in meta["stages"]
    ]
    header = ("stage", "status", "started (UTC)", "finished (UTC)", "wall seconds")
    return Table(header, rows, title="Stages (the summary as of this report)")


def _hosts_tables(meta: dict[str, Any]) -> tuple[Table, ...]:
    """Seeds per host, and the attempts of seeds that left no predictions."""
    hosts = Table(
        ("host", "seeds that ran on it"),
        [[h, str(n)] for h, n in meta["hosts"].items()],
        title="Hosts",
        noun="hosts",
    )
    failed = meta.get("failed_seed_attempts") or []
    if not failed:
        return (hosts,)
    rows = [[str(r["seed"]), fmt(r.get("attempts")), r.get("hosts") or "—"] for r in failed]
    return hosts, Table(("seed", "attempts", "hosts"), rows, title="Failed seeds", noun="failed seeds")


def metadata_section(meta: dict[str, Any]) -> Section:
    """Recipe, seeds, data digests, versions, git commit, stage wall times, hosts and attempts."""
    retried = meta.get("retried_seeds") or []
    listed = ", ".join(map(str, retried[:LISTED_SEEDS])) + (", …" if len(retried) > LISTED_SEEDS else "")
    attempts = (
        f"{len(retried)} seed(s) needed more than one attempt: {listed} (the per-seed table has each "
        "seed's attempts and hosts)."
        if retried
        else "Every seed with predictions finished in its first attempt."
    )
    paragraphs = [
        f"Seeds: {meta['seeds'] or 'none'}; run created {fmt(meta.get('created_at'))}.",
        _git_text(meta.get("git")),
        f"Data: {fmt((meta.get('data') or {}).get('source'))}; scored input: {fmt(meta.get('input'))}.",
        attempts,
    ]
    tables = (*_data_tables(meta), _versions_table(meta), _stages_table(meta), *_hosts_tables(meta))
    return Section("Run metadata", "metadata", paragraphs=tuple(paragraphs), tables=tables)
