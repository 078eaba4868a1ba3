"""The regression gate's flags (summary and nightly: the same defaults, hence the same verdict)."""

import argparse

from lenet_batch import config


def add_gate_flags(p: argparse.ArgumentParser) -> None:
    """--baseline, the rule with its thresholds, what a pass needs, the floor, and the exit policy."""
    p.add_argument(
        "--baseline",
        default=None,
        help="run id to compare with, 'previous' (default: the latest earlier night in night order that "
        "passed, or was accepted, on the same test data) or 'none'",
    )
    add_rule_flags(p)
    p.add_argument(
        "--fail-on",
        choices=config.FAIL_ON,
        default=None,
        help="inconclusive (default): exit 8 on an inconclusive night and 4 on a regressed one; "
        "regressed: exit 0 on an inconclusive night (still recorded as inconclusive)",
    )
    p.add_argument(
        "--reference-window",
        type=int,
        default=None,
        metavar="N",
        help="compare with the oldest passed or accepted night of the N before too: drift (default 7)",
    )


def add_rule_flags(p: argparse.ArgumentParser) -> None:
    """The rule with its thresholds, what a pass needs and the floor (`compare` takes these alone)."""
    p.add_argument(
        "--gate",
        choices=config.GATE_RULES,
        default=None,
        help="welch (default): one-sided Welch t-test on per-seed accuracies, regressed when p < --alpha "
        "and the mean fell by >= --min-effect; threshold: the mean fell by > --max-drop",
    )
    p.add_argument("--alpha", type=float, default=None, help="welch: significance level (default 0.01)")
    p.add_argument(
        "--min-effect", type=float, default=None, help="welch: smallest drop that counts (default 0.002)"
    )
    p.add_argument(
        "--max-drop",
        type=float,
        default=None,
        help="the drop a pass must rule out (welch) or not exceed (threshold, and < 2 seeds on a side) "
        "(default 0.01)",
    )
    p.add_argument(
        "--confidence",
        type=float,
        default=None,
        help="welch: passed only when the drop's one-sided upper bound at this level is below --max-drop; "
        "else inconclusive (default 0.9)",
    )
    p.add_argument(
        "--min-accuracy",
        type=float,
        default=None,
        metavar="X",
        help="regressed whenever the mean accuracy is below X, baseline or not (default: no floor)",
    )
