"""Everything the CLI prints to stdout: plain tables for people, JSON for programs, headline lines."""

import json
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lenet_batch.state.night import pruned_line
from lenet_batch.summary.report import clipped_text, comparison_line, headline_line
from lenet_batch.summary.types import MIN_INTERVAL_SEEDS

if TYPE_CHECKING:  # annotations only: printing a result must not import the stage that made it
    from lenet_batch.history.stage import HistoryResult
    from lenet_batch.pipeline.nightly import NightResult
    from lenet_batch.pipeline.plan import Plan
    from lenet_batch.pipeline.prune import PruneResult
    from lenet_batch.state.night import NightStatus
    from lenet_batch.summary.types import RunSummary


def strict_json(value: Any) -> Any:
    """JSON-ready data that strict parsers take: NaN and infinities become null (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def print_json(value: Any) -> None:
    """Data to stdout as strict JSON."""
    text = json.dumps(strict_json(value), indent=2, sort_keys=True, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")


def print_json_lines(rows: Sequence[dict[str, Any]]) -> None:
    """Rows to stdout as JSON lines (strict JSON)."""
    for row in rows:
        sys.stdout.write(json.dumps(strict_json(row), default=str, allow_nan=False) + "\n")


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table (for people; use --json for programs)."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    """A per-seed table: JSON when asked, else plain text (an `error` column when any row has one)."""
    if as_json:
        print_json(list(rows))
        return
    if any(r.get("error") for r in rows):
        columns = [*columns, "error"]
    print(format_table(rows, columns))


def print_dataset(info: dict[str, Any]) -> None:
    """`lenet-batch data`: source, shapes, class balance."""
    print(f"source: {info['source']}")
    for split, s in info["splits"].items():
        print(
            f"{split}: images {tuple(s['images']['shape'])} {s['images']['dtype']}, "
            f"labels {tuple(s['labels']['shape'])} {s['labels']['dtype']}"
        )
        print("  " + ", ".join(f"{k} {v}" for k, v in s["class_balance"].items()))
    if info.get("train_limit") or info.get("test_limit"):
        limits = f"--train-limit {info['train_limit']}, --test-limit {info['test_limit']}"
        print(f"subset: {limits} (the first images of each class, in file order)")
    if info.get("plot"):
        print(f"plot: {info['plot']}")


def print_predictions(labels: Sequence[int], predicted: Sequence[int], class_names: Sequence[str]) -> None:
    """`lenet-batch predict`: true vs predicted per image, then the count correct."""
    for i, (t, p) in enumerate(zip(labels, predicted, strict=True)):
        verdict = "ok" if t == p else "WRONG"
        print(f"{i}\ttrue {class_names[t]:<12}\tpredicted {class_names[p]:<12}\t{verdict}")
    print(f"{sum(int(t == p) for t, p in zip(labels, predicted, strict=True))}/{len(labels)} correct")


def print_summary(summary: "RunSummary", as_json: bool = False) -> None:
    """`lenet-batch summary`: summary.json, or the headline, the gate's verdict and where the report is."""
    if as_json:
        print_json(summary.to_json())
        return
    print(headline_line(summary))
    print(comparison_line(summary))
    print(f"report: {summary.report_html}")


def print_night(night: "NightResult", as_json: bool = False) -> None:
    """`lenet-batch nightly` (exits 0, 3 and 4): the night as JSON, or its headline, verdict, history and
    report (a finished night says there was nothing to do)."""
    if as_json:
        print_json(night.to_json())
        return
    print(night.headline)
    if night.summary is not None:
        print(comparison_line(night.summary))
    if night.nothing_to_do:
        print(f"nothing to do: run {night.run_id} is complete and nothing changed since its summary")
    if night.history is not None:
        print(f"history: {night.history.history_html}")
    if night.summary is not None:
        print(f"report: {night.summary.report_html}")


RUN_COLUMNS = [
    "run_id",
    "created",
    "train",
    "infer",
    "summary",
    "seeds",
    "mean",
    "95% CI",
    "ensemble",
    "gate",
]


def _run_cells(row: "NightStatus") -> dict[str, Any]:
    """A night's row as `lenet-batch runs` prints it."""
    ci = None if row.ci95_low is None else f"[{row.ci95_low:.4f}, {row.ci95_high:.4f}]"
    if ci is not None and row.ci95_clipped:
        ci += f" {clipped_text(row.ci95_low, row.ci95_high)}"
    if ci is None and row.mean_accuracy is not None and row.seeds_ok < MIN_INTERVAL_SEEDS:
        ci = "too few seeds"
    failed = len(row.failed_seeds)
    seeds = f"{row.seeds_ok}" + (f"+{failed} failed" if failed else "")
    gate = row.verdict if row.outcome in ("ok", "regressed", "inconclusive") else row.outcome
    if row.baseline_run_id:
        gate = f"{gate} vs {row.baseline_run_id}"
    if row.accepted is not None:
        gate = f"{gate}, accepted"
    return {
        "run_id": row.run_id,
        "created": row.created_at,
        "train": row.status("train"),
        "infer": row.status("infer"),
        "summary": row.status("summary"),
        "seeds": seeds,
        "mean": row.mean_accuracy,
        "95% CI": ci,
        "ensemble": row.ensemble_accuracy,
        "gate": gate,
        "note": pruned_line(row),
    }


def _said(night: "NightStatus") -> str:
    """A night in words: the gate's line when the night was judged, else its outcome and why."""
    if night.gate and night.outcome in ("ok", "regressed", "inconclusive"):
        return night.gate + (f"; {night.accepted.text()}" if night.accepted else "")
    return f"{night.outcome}: {night.reason}" if night.reason else night.outcome


def print_runs(rows: Sequence["NightStatus"], links: dict[str, str | None] | None = None) -> None:
    """`lenet-batch runs`: one line per night, newest first, then the newest night's verdict in words and
    the links (--report-base-url) to its report and to the history page."""
    if not rows:
        print("(no runs)")
        return
    columns = RUN_COLUMNS + (["note"] if any(r.pruned for r in rows) else [])  # a pruned night says so
    print(format_table([_run_cells(r) for r in rows], columns))
    damaged = [r for r in rows if r.outcome == "damaged"]
    if damaged:
        print(f"\n{len(damaged)} damaged run(s): their records do not read")
        print("\n".join(f"  {r.run_id}: {r.reason}" for r in damaged))
    newest = rows[0]
    print(f"\n{newest.run_id}: {_said(newest)}")
    for name, url in (
        ("report", (links or {}).get("report_url")),
        ("history", (links or {}).get("history_url")),
    ):
        if url:
            print(f"{name}: {url}")


def print_history(result: "HistoryResult") -> None:
    """`lenet-batch history`: what was written, and the newest run's verdict."""
    print(f"history: {result.runs} run(s), {result.seed_rows} seed row(s)")
    latest = result.latest
    if latest:
        print(f"{latest.run_id}: {_said(latest)}")
    print(f"table: {result.runs_parquet}")
    print(f"report: {result.history_html}")


PLAN_COLUMNS = ["stage", "seed", "action", "from_epoch", "reason"]


def print_plan(plan: "Plan", as_json: bool) -> None:
    """A --dry-run's plan: a table of its steps (stage, seed, action, from which epoch, why), or them as
    JSON; then, when every step is a skip, that there is nothing to do."""
    if as_json:
        print_json([s.to_json() for s in plan.steps])
        return
    print(format_table([s.to_json() for s in plan.steps], PLAN_COLUMNS))
    if plan.empty:
        print(f"nothing to do for run {plan.run_id}: every step is a skip")


def size_text(n: int | None) -> str | None:
    """Bytes as people read them: '812 B', '3.4 KiB', '1.2 MiB', '5.0 GiB' (None stays None)."""
    if n is None:
        return None
    shown, unit = float(n), "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if shown < 1024:
            break
        shown, unit = shown / 1024, bigger
    return f"{n} B" if unit == "B" else f"{shown:.1f} {unit}"


PRUNE_COLUMNS = ["run_id", "action", "files", "size", "why"]
PRUNE_SHOWN = ("prune", "finish", "protected", "skip")  # the nights kept in the window are only counted


def print_prune(result: "PruneResult", as_json: bool) -> None:
    """`lenet-batch prune`: the nights that go, are protected or left alone, each with why; the totals."""
    if as_json:
        print_json(result.to_json())
        return
    shown = [n for n in result.nights if n.action in PRUNE_SHOWN]
    if shown:
        cells = [{**n.to_json(), "size": size_text(n.bytes), "why": n.reason} for n in shown]
        print(format_table(cells, PRUNE_COLUMNS))
    counts = {a: sum(n.action == a for n in result.nights) for a in ("keep", "pruned", "protected")}
    rest = f"{counts['keep']} kept within --keep {result.keep}, {counts['protected']} protected"
    rest += f", {counts['pruned']} pruned before" if counts["pruned"] else ""
    gone = f"{result.pruned} night(s), {size_text(result.bytes)}"
    if result.dry_run:
        print(f"would prune {gone}; {rest}; nothing removed (--dry-run)")
    else:
        print(f"pruned {gone}; {rest}" if result.pruned else f"nothing to prune: {rest}")
    if result.lock:
        print(result.lock)
    if result.history:
        print(f"history: {result.history}")
