"""The regression gate: tonight's run against its baseline run."""

from typing import Any

# A drop equal to max_drop must not fail the gate just because 0.90 - 0.89 > 0.01 in binary floating point.
GATE_TOLERANCE = 1e-9


def _delta(current: float | None, baseline: float | None) -> dict[str, float | None]:
    """Current, baseline and current minus baseline (None when either is missing)."""
    both = current is not None and baseline is not None
    return {"current": current, "baseline": baseline, "delta": (current - baseline) if both else None}


def compare(current: dict[str, Any], baseline: dict[str, Any] | None, max_drop: float) -> dict[str, Any]:
    """The regression gate: regressed when mean accuracy fell by more than max_drop or seeds failed."""
    base = baseline or {}
    mean = _delta(current["across_seeds"]["mean"], (base.get("across_seeds") or {}).get("mean"))
    ens = _delta(current["ensemble"]["accuracy"], (base.get("ensemble") or {}).get("accuracy"))
    failed = sorted(current.get("failed_seeds") or [])
    reasons = []
    if mean["delta"] is not None and -mean["delta"] > max_drop + GATE_TOLERANCE:
        reasons.append(
            f"mean accuracy fell by {-mean['delta']:.4f} ({mean['baseline']:.4f} -> "
            f"{mean['current']:.4f}), more than max_drop {max_drop:g}"
        )
    if failed:
        reasons.append(f"{len(failed)} seed(s) failed: {failed}")
    return {
        "baseline_run_id": base.get("run_id"),
        "max_drop": max_drop,
        "mean_accuracy": mean,
        "ensemble_accuracy": ens,
        "failed_seeds": failed,
        "regressed": bool(reasons),
        "reasons": reasons,
    }
