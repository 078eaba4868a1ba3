"""The regression gate: tonight's run against its baseline run, judged against the seed noise it measured.

Rule "welch" (default): a regression is a one-sided Welch t-test on the two runs' per-seed test accuracies
with p < alpha AND a drop of the mean of at least min_effect. With fewer than 2 seeds on either side, or no
seed variance on either side, there is no noise to test against and the threshold rule applies (said so).
Rule "threshold": a regression is a drop of the mean of more than max_drop. Failed seeds always regress.
"""

from dataclasses import asdict, dataclass
from typing import Any

from lenet_batch.config import GATE_RULES, GateRule
from lenet_batch.summary.noise import prob_superiority, welch_less

WELCH, THRESHOLD = GATE_RULES
# A drop equal to max_drop must not fail the gate just because 0.90 - 0.89 > 0.01 in binary floating point.
GATE_TOLERANCE = 1e-9
MIN_SEEDS = 2  # per side, for a variance to test against


@dataclass(frozen=True)
class Judgement:
    """What the applied rule said about the change of the mean."""

    applied: str  # welch or threshold
    regressed: bool
    text: str  # the test and its conclusion, in words
    test: dict[str, float] | None = None  # welch: statistic, df, p_value
    fallback: str | None = None  # why welch was asked for but the threshold rule applied


def seed_accuracies(summary: dict[str, Any]) -> list[float]:
    """The per-seed test accuracies of a summary.json (seeds without one left out)."""
    rows = summary.get("per_seed") or []
    return [float(r["test_accuracy"]) for r in rows if r.get("test_accuracy") is not None]


def _delta(current: float | None, baseline: float | None) -> dict[str, float | None]:
    """Current, baseline and current minus baseline (None when either is missing)."""
    both = current is not None and baseline is not None
    return {"current": current, "baseline": baseline, "delta": (current - baseline) if both else None}


def _threshold(drop: float, rule: GateRule, fallback: str | None) -> Judgement:
    """Today's rule: a drop of the mean beyond max_drop."""
    regressed = drop > rule.max_drop + GATE_TOLERANCE
    if regressed:
        verdict = f"drop {drop:.4f} > max drop {rule.max_drop:g}: regression"
    else:
        verdict = "no drop" if drop <= 0 else f"drop {drop:.4f} <= max drop {rule.max_drop:g}"
    rule_text = f"threshold rule (max drop {rule.max_drop:g}" + (f"; {fallback})" if fallback else ")")
    return Judgement(THRESHOLD, regressed, f"{rule_text}: {verdict}", fallback=fallback)


def _no_test_reason(current: list[float], baseline: list[float]) -> str:
    if len(current) < MIN_SEEDS or len(baseline) < MIN_SEEDS:
        return (
            f"the Welch test needs {MIN_SEEDS} seeds on each side, tonight has {len(current)} and the "
            f"baseline {len(baseline)}"
        )
    return "no seed variance on either side to test against"


def judge(current: list[float], baseline: list[float], drop: float, rule: GateRule) -> Judgement:
    """Apply the rule to the drop of the mean (baseline minus tonight) and the per-seed accuracies."""
    welch = welch_less(current, baseline) if rule.rule == WELCH else None
    if welch is None:
        fallback = _no_test_reason(current, baseline) if rule.rule == WELCH else None
        return _threshold(drop, rule, fallback)
    significant, large = welch.p_value < rule.alpha, drop >= rule.min_effect - GATE_TOLERANCE
    test = f"Welch one-sided t-test t = {welch.statistic:.2f}, df = {welch.df:.1f}, p = {welch.p_value:.2g}"
    effect = f"drop {drop:.4f}"
    if significant and large:
        verdict = f"p < {rule.alpha:g} and {effect} >= {rule.min_effect:g}: regression beyond seed noise"
    elif significant:
        verdict = f"p < {rule.alpha:g} but {effect} < min effect {rule.min_effect:g}: too small to count"
    else:
        verdict = "no drop" if drop <= 0 else "within seed noise"
    numbers = {"statistic": welch.statistic, "df": welch.df, "p_value": welch.p_value}
    return Judgement(WELCH, significant and large, f"{test}: {verdict}", numbers)


def compare(
    current: dict[str, Any],
    baseline: dict[str, Any] | None,
    rule: GateRule | None = None,
    why_none: str = "",
) -> dict[str, Any]:
    """The comparison summary.json records; with no baseline nothing is compared and why_none says why."""
    rule = rule or GateRule()
    base = baseline or {}
    mean = _delta(current["across_seeds"]["mean"], (base.get("across_seeds") or {}).get("mean"))
    ens = _delta(current["ensemble"]["accuracy"], (base.get("ensemble") or {}).get("accuracy"))
    ours, theirs = seed_accuracies(current), seed_accuracies(base)
    failed = sorted(current.get("failed_seeds") or [])
    judgement = None
    if baseline is not None and mean["delta"] is not None:
        judgement = judge(ours, theirs, -mean["delta"], rule)
    reasons = [judgement.text] if judgement and judgement.regressed else []
    if failed:
        reasons.append(f"{len(failed)} seed(s) failed: {failed}")
    doc = {
        "baseline_run_id": base.get("run_id"),
        "baseline_reason": None if baseline is not None else (why_none or "no baseline run"),
        **asdict(rule),  # rule, alpha, min_effect, max_drop
        "applied_rule": judgement.applied if judgement else None,
        "fallback": judgement.fallback if judgement else None,
        "n_seeds": {"current": len(ours), "baseline": len(theirs) if baseline is not None else None},
        "mean_accuracy": mean,
        "ensemble_accuracy": ens,
        "effect": mean["delta"],
        "test": judgement.test if judgement else None,
        "prob_superiority": prob_superiority(ours, theirs) if baseline is not None else None,
        "failed_seeds": failed,
        "regressed": bool(reasons),
        "reasons": reasons,
        "verdict": "regressed" if reasons else "passed" if judgement else "n/a",
    }
    doc["sentence"] = sentence(doc, judgement)
    return doc


def sentence(cmp: dict[str, Any], judgement: Judgement | None) -> str:
    """The comparison in words a person reads (numbers, test, verdict)."""
    failed = cmp["failed_seeds"]
    tail = f"; {len(failed)} seed(s) failed: {failed}" if failed else ""
    if judgement is None:
        return f"no baseline ({cmp['baseline_reason']}){tail}"
    mean = cmp["mean_accuracy"]
    change = f"{mean['baseline']:.4f} → {mean['current']:.4f} ({mean['delta']:+.4f})"
    head = f"baseline {cmp['baseline_run_id']}: mean {change}"
    superiority = cmp["prob_superiority"]
    odds = "" if superiority is None else f"; P(tonight's seed beats the baseline's) = {superiority:.2f}"
    return f"{head}, {judgement.text}{odds}{tail}"


def verdict(cmp: dict[str, Any]) -> str:
    """regressed, passed or n/a (also for a summary.json written before the verdict was recorded)."""
    if cmp.get("verdict"):
        return cmp["verdict"]
    if cmp.get("regressed"):
        return "regressed"
    return "passed" if cmp.get("baseline_run_id") else "n/a"


def gate_line(cmp: dict[str, Any]) -> str:
    """One line: "gate: passed — <sentence>", "gate: REGRESSED — …", or "gate: n/a (no baseline): why"."""
    said = verdict(cmp)
    text = cmp.get("sentence") or "; ".join(cmp.get("reasons") or [])
    if said == "n/a":
        return f"gate: n/a (no baseline): {cmp.get('baseline_reason') or 'nothing to compare with'}"
    return f"gate: {'REGRESSED' if said == 'regressed' else said}" + (f" — {text}" if text else "")
