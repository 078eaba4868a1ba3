"""The monitoring flags: --metrics-file (nightly and check) and the nightly's webhook."""

import argparse

from lenet_batch import config


def add_monitor_flags(p: argparse.ArgumentParser, nightly: bool) -> None:
    """--metrics-file (nightly and check) and, on the nightly, the webhook's flags."""
    p.add_argument(
        "--metrics-file",
        default=None,
        metavar="PATH",
        help="write the night's state in Prometheus text format to PATH, atomically (node_exporter's "
        "textfile collector reads *.prom files)",
    )
    if not nightly:
        return
    p.add_argument(
        "--notify",
        default=None,
        metavar="URL",
        help="POST a JSON document (run id, state, headline, what changed, report, and a `text` for Slack/"
        "Teams) to URL when the night fails, has failed seeds or regresses",
    )
    p.add_argument(
        "--notify-on",
        choices=config.NOTIFY_ON,
        default=None,
        help="problems (default): failures, failed seeds and regressions; always: every night",
    )
    p.add_argument(
        "--notify-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the most the hook may take, its one retry included (default 10); it never fails the night",
    )
