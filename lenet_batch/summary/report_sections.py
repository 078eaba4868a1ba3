"""What the report says, in the order a person reads it, as sections both renderers (HTML, Markdown) walk.

Headline first, then the verdict against the baseline, then accuracy per seed, training, classes, agreement
between seeds, the pictures, and last the run's metadata.
"""

from collections.abc import Mapping
from typing import Any

from lenet_batch.summary import gate
from lenet_batch.summary.report import fmt, headline, headline_line
from lenet_batch.summary.report_metadata import metadata_section
from lenet_batch.summary.report_model import Section, Table

# Comparison keys rendered on their own; every other key of `comparison` is shown as it comes.
_COMPARISON_OWN = ("baseline_run_id", "regressed", "reasons", "verdict", "sentence")


def verdict(cmp: Mapping[str, Any]) -> tuple[str, str]:
    """The gate's outcome as (status, sentence): passed, regressed or n/a, in the gate's own words."""
    said = gate.verdict(dict(cmp))
    return ("na" if said == "n/a" else said), gate.gate_line(dict(cmp))


def _cell(value: Any) -> str:
    """Any comparison value as text: small floats in scientific notation, lists joined."""
    if isinstance(value, float) and value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    return fmt(value)


def comparison_tables(cmp: Mapping[str, Any]) -> tuple[Table, ...]:
    """Every metric the comparison holds (current, baseline, delta, ...), then its other fields."""
    metrics = {k: v for k, v in cmp.items() if isinstance(v, dict) and "current" in v}
    extra = list(dict.fromkeys(k for v in metrics.values() for k in v if k not in ("current", "baseline")))
    header = ("metric", "current", "baseline", *extra)
    rows = [
        [name.replace("_", " ")]
        + [_cell(d.get(k)) if k != "delta" or d.get(k) is None else f"{d[k]:+.4f}" for k in header[1:]]
        for name, d in metrics.items()
    ]
    others = [
        [k.replace("_", " "), _cell(v)] for k, v in cmp.items() if k not in (*_COMPARISON_OWN, *metrics)
    ]
    tables = (Table(header, rows),) if rows else ()
    return tables + ((Table(("setting", "value"), others),) if others else ())


def headline_section(doc: dict[str, Any]) -> Section:
    """The one line to read, the gate's verdict, then the numbers behind them."""
    return Section(
        title="Headline",
        anchor="headline",
        paragraphs=(headline_line(doc),),
        verdict=verdict(doc.get("comparison") or {}),
        bullets=tuple(headline(doc)),
    )


def comparison_section(doc: dict[str, Any]) -> Section:
    """What the run was compared with and what changed."""
    cmp = doc.get("comparison") or {}
    base = cmp.get("baseline_run_id")
    text = f"Compared with run {base}." if base else "No baseline run: accuracy was not compared."
    return Section("Against the baseline", "baseline", paragraphs=(text,), tables=comparison_tables(cmp))


def per_seed_table(per_seed: list[dict[str, Any]], mean: float | None) -> Table:
    """Every seed, worst test accuracy first, with its training numbers, attempts and hosts."""
    rows = [
        [
            str(r["seed"]),
            fmt(r["test_accuracy"]),
            "—" if mean is None else f"{r['test_accuracy'] - mean:+.4f}",
            fmt(r.get("mean_disagreement")),
            fmt(r.get("final_train_loss")),
            fmt(r.get("final_train_accuracy")),
            fmt(r.get("train_seconds"), 1),
            fmt(r.get("epochs")),
            fmt(r.get("attempts")),
            r.get("hosts") or "—",
        ]
        for r in sorted(per_seed, key=lambda r: (r["test_accuracy"], r["seed"]))
    ]
    header = ("seed", "test accuracy", "vs mean", "disagreement", "train loss", "train accuracy")
    links = (("all seeds as CSV", "per_seed.csv"), ("Parquet", "summary.parquet"))
    return Table(
        (*header, "train s", "epochs", "attempts", "hosts"),
        rows,
        title="Seeds, worst first (disagreement: mean share of samples predicted unlike the other seeds)",
        noun="seeds",
        links=links,
    )


def seeds_section(doc: dict[str, Any], figures: Mapping[str, Any]) -> Section:
    """The distribution of per-seed accuracy and every seed's row."""
    table = per_seed_table(doc["per_seed"], doc["across_seeds"]["mean"])
    return Section(
        "Accuracy per seed", "seeds", figures=_present(figures, "seed_accuracy.png"), tables=(table,)
    )


def classes_section(doc: dict[str, Any], figures: Mapping[str, Any]) -> Section:
    """Per class across seeds, and the ensemble's confusions."""
    rows = [
        [r["class_name"], *(fmt(r.get(k)) for k in ("mean", "std", "min", "max", "ensemble_accuracy"))]
        for r in sorted(doc["per_class"], key=lambda r: r["mean"])
    ]
    table = Table(("class", "mean", "std", "min", "max", "ensemble"), rows, title="Classes, weakest first")
    shown = _present(figures, "per_class_accuracy.png", "confusion_matrix.png")
    return Section("Per class", "classes", figures=shown, tables=(table,))


def agreement_section(doc: dict[str, Any], figures: Mapping[str, Any]) -> Section:
    """How often seeds disagree: statistics over all pairs (and the figure from two seeds on)."""
    d = doc["disagreement"]
    if not d.get("n_pairs"):
        return Section("Agreement between seeds", "agreement", paragraphs=("One seed: no pairs to compare.",))
    q = d.get("quantiles") or {}
    pair = d["most_different_pair"]
    rows = [["pairs", f"{d['n_pairs']:,}"]] + [[k, fmt(d.get(k))] for k in ("mean", "median", "min", "max")]
    rows += [[name, fmt(value)] for name, value in q.items() if name != "p50"]  # p50 is the median
    rows.append(
        [
            "most different pair",
            f"seeds {pair['seeds'][0]} and {pair['seeds'][1]}: {fmt(pair['disagreement'])}",
        ]
    )
    table = Table(
        ("share of samples two seeds predict differently", "value"),
        rows,
        links=(("every pair", "disagreement.parquet"),),
    )
    return Section(
        "Agreement between seeds", "agreement", figures=_present(figures, "disagreement.png"), tables=(table,)
    )


def _present(figures: Mapping[str, Any], *names: str) -> tuple[str, ...]:
    return tuple(n for n in names if n in figures)


def sections(doc: dict[str, Any], figures: Mapping[str, Any]) -> list[Section]:
    """The report's sections in reading order (a section without content is left out)."""
    training = Section("Training", "training", figures=_present(figures, "training_curves.png"))
    pictures = Section(
        "Pictures", "pictures", figures=_present(figures, "train_images.png", "test_predictions.png")
    )
    out = [
        headline_section(doc),
        comparison_section(doc),
        seeds_section(doc, figures),
        training,
        classes_section(doc, figures),
        agreement_section(doc, figures),
        pictures,
    ]
    if doc.get("run_metadata"):
        out.append(metadata_section(doc["run_metadata"]))
    return [s for s in out if not s.is_empty()]
