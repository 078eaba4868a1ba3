"""What the report says, in the order a person reads it, as sections both renderers (HTML, Markdown) walk.

Headline first, then the verdict against the baseline, then accuracy per seed, training, classes, agreement
between seeds, the pictures, and last what made the run (recipe, data, versions, commit, stages, hosts).
"""

from collections.abc import Mapping
from typing import Any

from lenet_batch.summary.report import Section, Table, duration_text, fmt, headline_bullets, headline_line
from lenet_batch.summary.report_metadata import metadata_section
from lenet_batch.summary.types import Comparison, Delta, RunSummary, SeedRow, changes_text


def verdict_badge(cmp: Comparison | None) -> tuple[str, str]:
    """The gate's chip and sentence: passed, regressed, inconclusive, drift, n/a, … in the gate's words (the
    sentence names the smallest detectable drop and, when inconclusive, the seeds a side that would tell)."""
    if cmp is None:
        return "n/a", "gate: n/a (no baseline): not compared"
    return cmp.chip(), cmp.line()


def changes_line(cmp: Comparison | None) -> str | None:
    """What changed since the baseline, beside the verdict (None: no baseline, or nothing recorded)."""
    text = changes_text(cmp.changes) if cmp is not None and cmp.baseline_run_id else None
    if text is None:
        return None
    if not cmp.changes:
        look = (
            ": look at the environment (machine load, storage, libraries not recorded)"
            if cmp.regressed
            else ""
        )
        return f"Since baseline {cmp.baseline_run_id}: {text}{look}."
    return f"Changed since baseline {cmp.baseline_run_id}: {text}."


def changes_table(cmp: Comparison) -> Table | None:
    """Each recorded difference between the baseline and tonight, one row each."""
    if not cmp.changes:
        return None
    rows = [[c.key, c.baseline or "—", c.current or "—"] for c in cmp.changes]
    return Table(("what changed", f"baseline {cmp.baseline_run_id}", "tonight"), rows, title="What changed")


def _number(value: Any) -> str:
    """A comparison value as text: small floats in scientific notation."""
    if isinstance(value, float) and value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return fmt(value)


def _delta_row(name: str, d: Delta) -> list[str]:
    return [name, _number(d.current), _number(d.baseline), "—" if d.delta is None else f"{d.delta:+.4f}"]


def _test_rows(cmp: Comparison) -> list[list[str]]:
    """How the gate decided, one row each: the rule and its thresholds, the seeds, the test's numbers."""
    applied = cmp.applied_rule or cmp.rule
    rows = [["rule", applied if applied == cmp.rule else f"{applied} (asked: {cmp.rule})"]]
    if applied == "welch":
        rows += [
            ["alpha (one-sided)", _number(cmp.alpha)],
            ["smallest drop that counts", _number(cmp.min_effect)],
        ]
    else:
        rows += [["largest drop allowed", _number(cmp.max_drop)]]
    rows += [
        ["seeds tonight", str(cmp.n_seeds.current)],
        ["seeds in the baseline", fmt(cmp.n_seeds.baseline)],
    ]
    rows += [["effect (mean tonight − baseline)", _number(cmp.effect)]]
    if cmp.test is not None:
        rows += [
            ["Welch t", f"{cmp.test.statistic:.2f}"],
            ["degrees of freedom", f"{cmp.test.df:.1f}"],
            ["p-value", _number(cmp.test.p_value)],
        ]
    if cmp.prob_superiority is not None:
        rows.append(["P(tonight's seed beats the baseline's)", _number(cmp.prob_superiority)])
    return rows + _evidence_rows(cmp)


def _evidence_rows(cmp: Comparison) -> list[list[str]]:
    """What the noise let the gate tell (version 4 on): the drop's bound, the detectable drop, the seeds
    needed, the reference night, the floor; then the failed seeds."""
    rows = []
    if cmp.drop_upper_bound is not None and cmp.confidence is not None:
        bound = f"the drop's one-sided {cmp.confidence:.0%} upper bound (a pass: below {cmp.max_drop:g})"
        rows.append([bound, _number(cmp.drop_upper_bound)])
    if cmp.detectable_drop is not None:
        rows.append(["smallest detectable drop (power 0.8)", _number(cmp.detectable_drop)])
    if cmp.seeds_needed is not None:
        rows.append([f"seeds a side to tell a drop of {cmp.max_drop:g}", str(cmp.seeds_needed)])
    ref = cmp.reference
    if ref is not None:
        delta = "—" if ref.mean_accuracy.delta is None else f"{ref.mean_accuracy.delta:+.4f}"
        rows.append([f"since the reference {ref.run_id}", f"{ref.verdict}: mean {delta}"])
    if cmp.min_accuracy is not None:
        rows.append(["floor (min accuracy)", _number(cmp.min_accuracy)])
    if cmp.failed_seeds:
        rows.append(["failed seeds", ", ".join(map(str, cmp.failed_seeds))])
    return rows


def comparison_tables(cmp: Comparison) -> tuple[Table, ...]:
    """The compared numbers (current, baseline, delta), then how the gate decided."""
    metrics = Table(
        ("metric", "current", "baseline", "delta"),
        [
            _delta_row("mean accuracy", cmp.mean_accuracy),
            _delta_row("ensemble accuracy", cmp.ensemble_accuracy),
        ],
    )
    return metrics, Table(("the gate", "value"), _test_rows(cmp), title="How the gate decided")


def compared_links(cmp: Comparison | None) -> tuple[tuple[str, str], ...]:
    """The nights the verdict compared tonight with, each linking its report: the baseline, the reference."""
    if cmp is None or not cmp.baseline_run_id:
        return ()
    ref = cmp.reference
    nights = [("baseline", cmp.baseline_run_id), *([("reference", ref.run_id)] if ref else [])]
    return tuple((f"{role} {rid}", f"../../{rid}/summary/report.html") for role, rid in nights)


def headline_section(summary: RunSummary) -> Section:
    """The one line to read, the gate's verdict (with the nights it compared, linked), then the numbers."""
    changed = changes_line(summary.comparison)
    return Section(
        title="Headline",
        anchor="headline",
        paragraphs=(headline_line(summary),),
        verdict=verdict_badge(summary.comparison),
        compared=compared_links(summary.comparison),
        bullets=(*([changed] if changed else []), *headline_bullets(summary)),
    )


def _report_link(role: str, run_id: str) -> tuple[str, str]:
    """(text, href) of another night's report, beside this one's."""
    return f"the {role} night's report ({run_id})", f"../../{run_id}/summary/report.html"


def comparison_section(summary: RunSummary) -> Section:
    """What the run was compared with and what changed."""
    cmp = summary.comparison
    base = cmp.baseline_run_id if cmp else None
    if not base:
        why = cmp.baseline_reason if cmp and cmp.baseline_reason else "none was asked for"
        return Section("Against the baseline", "baseline", paragraphs=(f"No baseline run: {why}.",))
    ref = cmp.reference
    against = f"Compared with run {base}" + (f" and the reference night {ref.run_id}." if ref else ".")
    said = (against, *((cmp.fallback,) if cmp.fallback else ()), *((ref.sentence,) if ref else ()))
    links = (_report_link("baseline", base),)
    if ref is not None and ref.run_id != base:
        links += (_report_link("reference", ref.run_id),)
    changed = changes_table(cmp)
    tables = (*((changed,) if changed else ()), *comparison_tables(cmp))
    return Section("Against the baseline", "baseline", paragraphs=said, tables=tables, links=links)


def seeds_table(per_seed: tuple[SeedRow, ...], mean: float | None) -> Table:
    """Every seed, worst test accuracy first, with its training numbers, attempts and hosts."""
    rows = [
        [
            str(r.seed),
            fmt(r.test_accuracy),
            "—" if mean is None else f"{r.test_accuracy - mean:+.4f}",
            fmt(r.mean_disagreement),
            fmt(r.final_train_loss),
            fmt(r.final_train_accuracy),
            duration_text(r.train_seconds),
            fmt(r.epochs),
            fmt(r.attempts),
            r.hosts or "—",
        ]
        for r in sorted(per_seed, key=lambda r: (r.test_accuracy, r.seed))
    ]
    header = ("seed", "test accuracy", "vs mean", "disagreement", "train loss", "train accuracy")
    links = (("all seeds as CSV", "per_seed.csv"), ("Parquet", "summary.parquet"))
    return Table(
        (*header, "train time", "epochs", "attempts", "hosts"),
        rows,
        title="Seeds, worst first (disagreement: mean share of samples predicted unlike the other seeds)",
        noun="seeds",
        links=links,
    )


def seeds_section(summary: RunSummary, figures: Mapping[str, Any]) -> Section:
    """The distribution of per-seed accuracy and every seed's row."""
    table = seeds_table(summary.per_seed, summary.across_seeds.mean)
    return Section(
        "Accuracy per seed", "seeds", figures=_present(figures, "seed_accuracy.png"), tables=(table,)
    )


def classes_section(summary: RunSummary, figures: Mapping[str, Any]) -> Section:
    """Per class across seeds, and the ensemble's confusions."""
    rows = [
        [r.class_name, *(fmt(v) for v in (r.mean, r.std, r.min, r.max, r.ensemble_accuracy))]
        for r in sorted(summary.per_class, key=lambda r: r.mean)
    ]
    table = Table(("class", "mean", "std", "min", "max", "ensemble"), rows, title="Classes, weakest first")
    shown = _present(figures, "per_class_accuracy.png", "confusion_matrix.png")
    return Section("Per class", "classes", figures=shown, tables=(table,))


def agreement_section(summary: RunSummary, figures: Mapping[str, Any]) -> Section:
    """How often seeds disagree: statistics over all pairs (and the figure from two seeds on)."""
    d = summary.disagreement
    if not d.n_pairs or d.most_different_pair is None:
        return Section("Agreement between seeds", "agreement", paragraphs=("One seed: no pairs to compare.",))
    q = d.quantiles or {}
    pair = d.most_different_pair
    rows = [["pairs", f"{d.n_pairs:,}"]] + [[k, fmt(getattr(d, k))] for k in ("mean", "median", "min", "max")]
    rows += [[name, fmt(value)] for name, value in q.items() if name != "p50"]  # p50 is the median
    rows.append(
        ["most different pair", f"seeds {pair.seeds[0]} and {pair.seeds[1]}: {fmt(pair.disagreement)}"]
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


def sections(summary: RunSummary, figures: Mapping[str, Any]) -> list[Section]:
    """The report's sections in reading order (a section without content is left out)."""
    training = Section("Training", "training", figures=_present(figures, "training_curves.png"))
    pictures = Section(
        "Pictures", "pictures", figures=_present(figures, "train_images.png", "test_predictions.png")
    )
    out = [
        headline_section(summary),
        comparison_section(summary),
        seeds_section(summary, figures),
        training,
        classes_section(summary, figures),
        agreement_section(summary, figures),
        pictures,
    ]
    if summary.run_metadata is not None:
        out.append(metadata_section(summary.run_metadata))
    return [s for s in out if not s.is_empty()]
