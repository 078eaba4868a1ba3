"""The run's report: headline and tables as report.md (figures beside it) and a self-contained report.html."""

import base64
import html
from collections.abc import Sequence
from typing import Any

from lenet_batch.summary.figures import FIGURES
from lenet_batch.summary.gate import gate_line


def _fmt(value: Any, digits: int = 4) -> str:
    """A number for a table cell; None (undefined, e.g. std of one seed) shows as an em dash."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def headline(summary: dict[str, Any]) -> list[str]:
    """The run's numbers as short sentences, shared by the Markdown and HTML reports."""
    acc, n = summary["across_seeds"], summary["n_seeds"]
    spread = (
        f"std {_fmt(acc['std'])}, 95% CI [{_fmt(acc['ci95'][0])}, {_fmt(acc['ci95'][1])}]"
        if acc["std"] is not None
        else "std and CI undefined with one seed"
    )
    lines = [
        f"Mean test accuracy over {n} seed(s): {_fmt(acc['mean'])} ({spread}; "
        f"min {_fmt(acc['min'])}, max {_fmt(acc['max'])})",
        f"Ensemble accuracy (mean probability): {_fmt(summary['ensemble']['accuracy'])} over "
        f"{summary['ensemble']['n_samples']} samples",
        f"Majority-vote accuracy: {_fmt(summary['majority_vote']['accuracy'])} "
        f"(ties go to the {summary['majority_vote']['tie_break']})",
        f"Mean pairwise disagreement between seeds: {_fmt(summary['disagreement']['mean'])}",
    ]
    if summary.get("failed_seeds"):
        lines.append(f"Failed seeds: {summary['failed_seeds']}")
    lines.append("Gate" + gate_line(summary.get("comparison") or {}).removeprefix("gate"))
    return lines


def headline_line(summary: dict[str, Any]) -> str:
    """One line a person reads first: seeds, mean accuracy with its CI, ensemble accuracy."""
    across = summary.get("across_seeds", {})
    ci = across.get("ci95")
    ci_text = f" (95% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci else ""
    ensemble = summary.get("ensemble", {}).get("accuracy")
    ensemble_text = f", ensemble {ensemble:.4f}" if ensemble is not None else ""
    mean = across.get("mean")
    mean_text = "n/a" if mean is None else f"{mean:.4f}"
    return (
        f"run {summary.get('run_id')}: {across.get('n_seeds', '?')} seeds, "
        f"mean test accuracy {mean_text}{ci_text}{ensemble_text}"
    )


def comparison_line(summary: dict[str, Any]) -> str:
    """The gate's verdict against the baseline run (or why there is none), in one line."""
    return gate_line(summary.get("comparison") or {})


def tables(summary: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the baseline comparison, per-seed and per-class tables."""
    cmp = summary.get("comparison") or {}
    base = cmp.get("baseline_run_id") or "none"
    compare_rows = [
        [name, _fmt(d.get("current")), _fmt(d.get("baseline")), _fmt(d.get("delta"))]
        for name, d in (
            ("mean accuracy", cmp.get("mean_accuracy") or {}),
            ("ensemble accuracy", cmp.get("ensemble_accuracy") or {}),
        )
    ]
    compare_rows.append(["gate", gate_line(cmp).removeprefix("gate: "), "", ""])
    seed_rows = [
        [
            str(r["seed"]),
            _fmt(r["test_accuracy"]),
            _fmt(r["final_train_loss"]),
            _fmt(r["final_train_accuracy"]),
            _fmt(r["train_seconds"], 1),
            _fmt(r["epochs"]),
        ]
        for r in summary["per_seed"]
    ]
    class_rows = [
        [
            r["class_name"],
            _fmt(r["mean"]),
            _fmt(r["std"]),
            _fmt(r["min"]),
            _fmt(r["max"]),
            _fmt(r["ensemble_accuracy"]),
        ]
        for r in summary["per_class"]
    ]
    return [
        (f"Baseline comparison (baseline run: {base})", ["", "current", "baseline", "delta"], compare_rows),
        (
            "Per seed",
            ["seed", "test accuracy", "final train loss", "final train accuracy", "train seconds", "epochs"],
            seed_rows,
        ),
        ("Per class", ["class", "mean", "std", "min", "max", "ensemble"], class_rows),
    ]


def render_markdown(summary: dict[str, Any], figures: Sequence[str]) -> str:
    """report.md: headline, tables, and the PNG files (which sit beside it) by relative name."""
    out = [f"# lenet-batch run {summary['run_id']}", ""] + [f"- {line}" for line in headline(summary)]
    for title, header, rows in tables(summary):
        out += ["", f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    out += ["", "## Figures"]
    out += [f"\n![{FIGURES.get(name, name)}]({name})" for name in figures]
    return "\n".join(out) + "\n"


def render_html(summary: dict[str, Any], figures: dict[str, bytes]) -> str:
    """report.html, self-contained: the figures are embedded as base64 data URIs."""
    esc = html.escape
    body = [f"<h1>lenet-batch run {esc(summary['run_id'])}</h1>", "<ul>"]
    body += [f"<li>{esc(line)}</li>" for line in headline(summary)] + ["</ul>"]
    for title, header, rows in tables(summary):
        body += [f"<h2>{esc(title)}</h2>", "<table>"]
        body.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        body += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows]
        body.append("</table>")
    body.append("<h2>Figures</h2>")
    for name, png in figures.items():
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        caption = esc(FIGURES.get(name, name))
        body.append(f'<figure><img src="{uri}" alt="{caption}"><figcaption>{caption}</figcaption></figure>')
    style = (
        "body{font-family:sans-serif;max-width:1040px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}img{max-width:100%}"
    )
    head = (
        f"<meta charset='utf-8'><title>lenet-batch run {esc(summary['run_id'])}</title><style>{style}</style>"
    )
    return f"<!DOCTYPE html>\n<html><head>{head}</head><body>\n" + "\n".join(body) + "\n</body></html>\n"
