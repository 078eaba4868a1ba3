"""The report's building blocks and its numbers as sentences: Section and Table (which both renderers walk),
the headline, and the lines the CLI and the nightly print.

What the report says, section by section, is in report_sections; report_render writes HTML and Markdown.
"""

from dataclasses import dataclass

from lenet_batch.summary.types import Disagreement, RunSummary, ScoredInput, Spread

VISIBLE_ROWS = 20  # table rows shown; the rest are folded away (<details> in HTML, a CSV link in Markdown)


@dataclass(frozen=True)
class Table:
    """A table; rows past `visible` are folded, and `links` point to the full list beside the report."""

    header: tuple[str, ...]
    rows: list[list[str]]
    title: str = ""
    visible: int = VISIBLE_ROWS
    noun: str = "rows"  # what the folded rows are: "the other 236 seeds"
    links: tuple[tuple[str, str], ...] = ()  # (text, href relative to the report)

    def _longest(self) -> list[int]:
        return [
            max([len(w) for w in self.header[i].split()] + [len(row[i]) for row in self.rows] + [3])
            for i in range(len(self.header))
        ]

    def widths(self) -> list[float]:
        """Column widths in percent, in proportion to their longest content (a folded table's two parts)."""
        longest = self._longest()
        return [100 * n / sum(longest) for n in longest]

    def min_width(self) -> int:
        """The narrowest the table gets, in characters (a long text wraps past 16): below it, it scrolls
        sideways in its box."""
        return sum(min(n, 16) + 2 for n in self._longest())


@dataclass(frozen=True)
class Section:
    """A titled part of the report: a verdict, paragraphs, bullets, figures (by file name), tables."""

    title: str
    anchor: str
    verdict: tuple[str, str] | None = None  # (the verdict word: passed, regressed, n/a, …; the sentence)
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (text, href relative to the report), after the paragraphs
    compared: tuple[tuple[str, str], ...] = ()  # the verdict's baseline and reference nights, linked

    def is_empty(self) -> bool:
        """Nothing to show: the report leaves the section out."""
        return not (self.verdict or self.paragraphs or self.bullets or self.figures or self.tables)


def fmt(value: object, digits: int = 4) -> str:
    """A number for a table cell; None (undefined, e.g. std of one seed) shows as an em dash."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def duration_text(seconds: float | None) -> str:
    """A duration in the largest unit that reads well: '41.2 s', '3 min 12 s', '2.1 h' (None: '—')."""
    if seconds is None:
        return "—"
    if seconds < 59.95:
        return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{seconds / 3600:.1f} h"


def interval_text(spread: Spread) -> str:
    """The 95% CI of a mean as a person reads it: '95% CI [0.8773, 0.8847]' (bounds never joined by a
    hyphen), cut at 0 or 1 and saying where, or 'too few seeds for an interval' below MIN_INTERVAL_SEEDS."""
    ci = spread.interval()
    if ci is None:
        return "too few seeds for an interval" if spread.n_seeds else "no interval"
    clipped = f", {clipped_text(ci.low, ci.high)}" if spread.ci95_clipped else ""
    return f"95% CI [{ci.low:.4f}, {ci.high:.4f}]{clipped}"


def clipped_text(low: float, high: float) -> str:
    """Where a cut interval was cut: 'clipped at 0', 'clipped at 1' or 'clipped at 0 and 1'."""
    ends = [name for name, bound, end in (("0", 0.0, low), ("1", 1.0, high)) if end == bound]
    return "clipped at " + " and ".join(ends) if ends else "clipped"


def scored_text(scored: ScoredInput) -> str:
    """'2,000 images of the test split of /data/fmnist (digest 1a2b3c4d5e6f)'."""
    where = f" of {scored.source}" if scored.source else ""
    digest = f" (digest {scored.digest})" if scored.digest else ""
    what = "the test split" if scored.name == "fashion-mnist:test" else scored.name
    return f"{scored.n_images:,} images of {what}{where}{digest}"


def headline_bullets(summary: RunSummary) -> list[str]:
    """The run's numbers as short sentences, shared by the Markdown and HTML reports."""
    acc, n = summary.across_seeds, summary.n_seeds
    std = "std undefined with one seed" if acc.std is None else f"std {fmt(acc.std)}"
    scored = f" on {scored_text(summary.scored)}" if summary.scored else ""
    lines = [
        f"Mean test accuracy over {n} seed{'' if n == 1 else 's'}{scored}: {fmt(acc.mean)} ({std}, "
        f"{interval_text(acc)}; min {fmt(acc.min)}, max {fmt(acc.max)})",
        f"Ensemble accuracy (mean probability): {fmt(summary.ensemble.accuracy)} over "
        f"{summary.ensemble.n_samples:,} samples",
        f"Majority-vote accuracy: {fmt(summary.majority_vote.accuracy)} "
        f"(ties go to the {summary.majority_vote.tie_break})",
        disagreement_line(summary.disagreement),
    ]
    if summary.failed_seeds:
        lines.append(f"Failed seeds: {list(summary.failed_seeds)}")
    return lines


def disagreement_line(d: Disagreement) -> str:
    """How often two seeds predict differently: mean, median and the middle 80% of pairs."""
    if d.mean is None:
        return "Pairwise disagreement between seeds: undefined with one seed"
    if d.n_pairs == 1:  # one pair: its median and quantiles are the same number again
        return f"Disagreement between the two seeds: {fmt(d.mean)}"
    q = d.quantiles or {}
    middle = f", 80% of pairs within [{fmt(q['p10'])}, {fmt(q['p90'])}]" if "p10" in q and "p90" in q else ""
    return f"Pairwise disagreement between seeds: mean {fmt(d.mean)}, median {fmt(d.median)}{middle}"


def headline_line(summary: RunSummary) -> str:
    """One line a person reads first: seeds, mean accuracy with its CI, ensemble accuracy."""
    across = summary.across_seeds
    ci_text = f" ({interval_text(across)})" if across.n_seeds else ""
    ensemble = summary.ensemble.accuracy
    mean_text = "n/a" if across.mean is None else f"{across.mean:.4f}"
    n = across.n_seeds
    return (
        f"run {summary.run_id}: {n} seed{'' if n == 1 else 's'}, "
        f"mean test accuracy {mean_text}{ci_text}, ensemble {ensemble:.4f}"
    )


def comparison_line(summary: RunSummary) -> str:
    """The gate's verdict against the baseline run (or why there is none), in one line."""
    if summary.comparison is None:
        return "gate: n/a (no baseline): not compared"
    return summary.comparison.line()
