"""The run's numbers as sentences: the report's headline, and the lines the CLI and the nightly print.

The report itself is built in report_sections (what it says) and rendered by report_html and report_md.
"""

from typing import Any

from lenet_batch.summary.gate import gate_line


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table cell; None (undefined, e.g. std of one seed) shows as an em dash."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def headline(summary: dict[str, Any]) -> list[str]:
    """The run's numbers as short sentences, shared by the Markdown and HTML reports."""
    acc, n = summary["across_seeds"], summary["n_seeds"]
    spread = (
        f"std {fmt(acc['std'])}, 95% CI [{fmt(acc['ci95'][0])}, {fmt(acc['ci95'][1])}]"
        if acc["std"] is not None
        else "std and CI undefined with one seed"
    )
    lines = [
        f"Mean test accuracy over {n} seed{'' if n == 1 else 's'}: {fmt(acc['mean'])} ({spread}; "
        f"min {fmt(acc['min'])}, max {fmt(acc['max'])})",
        f"Ensemble accuracy (mean probability): {fmt(summary['ensemble']['accuracy'])} over "
        f"{summary['ensemble']['n_samples']} samples",
        f"Majority-vote accuracy: {fmt(summary['majority_vote']['accuracy'])} "
        f"(ties go to the {summary['majority_vote']['tie_break']})",
        disagreement_line(summary["disagreement"]),
    ]
    if summary.get("failed_seeds"):
        lines.append(f"Failed seeds: {summary['failed_seeds']}")
    return lines


def disagreement_line(d: dict[str, Any]) -> str:
    """How often two seeds predict differently: mean, median and the middle 80% of pairs."""
    if d.get("mean") is None:
        return "Pairwise disagreement between seeds: undefined with one seed"
    q = d.get("quantiles") or {}
    middle = f", 80% of pairs within {fmt(q['p10'])}-{fmt(q['p90'])}" if "p10" in q and "p90" in q else ""
    return (
        f"Pairwise disagreement between seeds: mean {fmt(d['mean'])}, median {fmt(d.get('median'))}{middle}"
    )


def headline_line(summary: dict[str, Any]) -> str:
    """One line a person reads first: seeds, mean accuracy with its CI, ensemble accuracy."""
    across = summary.get("across_seeds", {})
    ci = across.get("ci95")
    ci_text = f" (95% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci else ""
    ensemble = summary.get("ensemble", {}).get("accuracy")
    ensemble_text = f", ensemble {ensemble:.4f}" if ensemble is not None else ""
    mean = across.get("mean")
    mean_text = "n/a" if mean is None else f"{mean:.4f}"
    n = across.get("n_seeds", "?")
    return (
        f"run {summary.get('run_id')}: {n} seed{'' if n == 1 else 's'}, "
        f"mean test accuracy {mean_text}{ci_text}{ensemble_text}"
    )


def comparison_line(summary: dict[str, Any]) -> str:
    """The gate's verdict against the baseline run (or why there is none), in one line."""
    return gate_line(summary.get("comparison") or {})
