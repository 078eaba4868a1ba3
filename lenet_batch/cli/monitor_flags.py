"""The monitoring flags: --metrics-file and --report-base-url (nightly, check) and the nightly's webhook."""

import argparse

from lenet_batch import config


def add_links_flag(p: argparse.ArgumentParser) -> None:
    """--report-base-url (nightly, check, runs): the report and history.html as links people can click."""
    p.add_argument(
        "--report-base-url",
        default=None,
        metavar="URL",
        help="the http(s) URL that serves the output's root: the report and history.html as links under it",
    )


def add_monitor_flags(p: argparse.ArgumentParser, nightly: bool) -> None:
    """--metrics-file and --report-base-url (nightly and check) and, on the nightly, the webhook's flags."""
    add_links_flag(p)
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
        help="POST a JSON document (run id, state, exit code, headline, what changed, report, and a `text` "
        "for Slack/Teams) to URL on every end of the night that is not ok",
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
