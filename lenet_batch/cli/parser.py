"""The `lenet-batch` argument parser: one subparser per command, flags that default to None (unset)."""

import argparse
import sys

from lenet_batch import __version__, config, errors
from lenet_batch.cli.gate_flags import add_gate_flags, add_rule_flags
from lenet_batch.cli.monitor_flags import add_links_flag, add_monitor_flags
from lenet_batch.redaction import redact_text


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {redact_text(message)} (see --help)\n")
        sys.exit(errors.EXIT_USAGE)


CLUSTER_FLAGS = ("address", "ray_connect_timeout", "cpus_per_seed", "gpus_per_seed")


def _common(p: argparse.ArgumentParser, *names: str) -> None:
    """Add the named shared flags; defaults are None so unset flags do not override env or --config."""
    spec = {
        "output": (
            ["--output", "-o"],
            {"help": "output URI: a folder or s3://bucket/prefix (default ./runs)"},
        ),
        "run_id": (["--run-id", "--run"], {"help": "run id (default: today's UTC date)"}),
        "seeds": (["--seeds"], {"help": "K, A-B or A,B,C (default 0-3)"}),
        "data": (["--data"], {"help": "Fashion-MNIST folder: path, s3://… or https://…"}),
        "address": (["--address"], {"help": "Ray cluster address (default $RAY_ADDRESS, else a local Ray)"}),
        "ray_connect_timeout": (
            ["--ray-connect-timeout"],
            {"type": float, "metavar": "SECONDS", "help": "give up joining --address after (default 30)"},
        ),
        "cpus_per_seed": (["--cpus-per-seed"], {"type": float, "help": "CPUs per seed's task (default 1)"}),
        "gpus_per_seed": (["--gpus-per-seed"], {"type": float, "help": "GPUs per seed's task (default 0)"}),
        "verify_data": (
            ["--no-verify"],
            {
                "action": "store_const",
                "const": False,
                "help": "accept data files whose SHA-256 differs from Fashion-MNIST's",
            },
        ),
    }
    for name in names:
        flags, kwargs = spec[name]
        p.add_argument(*flags, dest=name, default=None, **kwargs)


def _recipe_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=None, help="epochs per seed (default 10)")
    p.add_argument("--batch-size", type=int, default=None, help="SGD batch size (default 256)")
    p.add_argument("--lr", type=float, default=None, help="SGD learning rate (default 0.1)")
    p.add_argument(
        "--max-retries", type=int, default=None, help="retries of a seed whose worker died (default 3)"
    )


def _dry_run_flag(p: argparse.ArgumentParser, what: str) -> None:
    """--dry-run: refuse what the command would refuse, print its plan (--json: the steps), do nothing."""
    p.add_argument(
        "--dry-run",
        action="store_true",
        help=f"print the plan (each stage and seed: {what} or skip, and why); start and write nothing",
    )


def _force_flag(p: argparse.ArgumentParser, what: str) -> None:
    """--force: do again what a rerun would skip as already done (a command-line choice, not a setting)."""
    p.add_argument("--force", action="store_true", help=what)


def _limit_flags(p: argparse.ArgumentParser) -> None:
    """--train-limit and --test-limit: smoke-sized runs on a deterministic, class-balanced subset."""
    how = "images: the first {0}/10 of each class in file order (the first {0}%%10 classes take one more)"
    train, test = "train on N " + how.format("N"), "evaluate on M " + how.format("M")
    p.add_argument("--train-limit", type=int, default=None, metavar="N", help=train)
    p.add_argument("--test-limit", type=int, default=None, metavar="M", help=test)


def _positive(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _global_flags(parser: argparse.ArgumentParser, default: object = None) -> argparse.ArgumentParser:
    """Flags every command takes, before or after its name: config file, storage options, verbosity.

    The subcommands' copies default to SUPPRESS, so a flag given before the command name is not reset.
    """
    parser.add_argument("--config", default=default, help="TOML file of settings (flags beat env beat file)")
    parser.add_argument(
        "--storage-option",
        action="append",
        default=default,
        metavar="KEY=VALUE",
        help='fsspec/s3fs option; a table as JSON: client_kwargs=\'{"region_name": "eu-west-1"}\'',
    )
    parser.add_argument(
        "--storage-timeout",
        type=float,
        default=default,
        metavar="SECONDS",
        help="connect and read timeout of the storage (default 10)",
    )
    parser.add_argument(
        "--storage-retries",
        type=int,
        default=default,
        help="retries of a storage request after a network error (default 2)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default or False, help="debug logging"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default or False, help="warnings and errors only"
    )
    return parser


def build_parser() -> Parser:
    """The `lenet-batch` argument parser."""
    parser = Parser(prog="lenet-batch", description="LeNet-5 on Fashion-MNIST over many seeds, on Ray.")
    version = f"lenet-batch {__version__}"  # not %(prog)s: a subcommand's prog is "lenet-batch runs"
    parser.add_argument("--version", action="version", version=version)
    _global_flags(parser)
    parent = _global_flags(Parser(add_help=False), default=argparse.SUPPRESS)
    parent.add_argument("--version", action="version", version=version)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("data", parents=[parent], help="where the data comes from, counts, class balance")
    _common(p, "data", "verify_data")
    _limit_flags(p)
    p.add_argument("--plot", metavar="FILE", help="write a PNG of the first training images with class names")
    p.add_argument("--first", type=_positive, default=18, help="images in the plot (default 18)")
    p.add_argument("--json", action="store_true", help="print the description as JSON")

    p = sub.add_parser("train", parents=[parent], help="train seeds in parallel as Ray tasks")
    _common(p, "output", "run_id", "seeds", "data", "verify_data", *CLUSTER_FLAGS)
    _recipe_flags(p)
    _limit_flags(p)
    _dry_run_flag(p, "train, resume")
    p.add_argument("--json", action="store_true", help="print the per-seed table as JSON")

    p = sub.add_parser("predict", parents=[parent], help="one seed's predictions on the first test images")
    _common(p, "output", "run_id", "data", "verify_data")
    p.add_argument("--seed", type=int, required=True, help="the seed whose model to use")
    p.add_argument("--first", type=_positive, default=6, help="how many test images (default 6)")
    p.add_argument("--plot", metavar="FILE", help="write the 'true vs predicted' picture as PNG")

    p = sub.add_parser("infer", parents=[parent], help="score images with every seed's model into Parquet")
    _common(p, "output", "run_id", "seeds", "data", "verify_data", *CLUSTER_FLAGS)
    _limit_flags(p)
    p.add_argument("--input", default=None, help="images to score: IDX, .npy (N×28×28 uint8) or Parquet")
    p.add_argument("--input-labels", default=None, help="IDX labels file for an IDX --input (optional)")
    p.add_argument(
        "--input-name",
        default=None,
        help="name of the --input's predictions: scored/input=NAME/… (default: from its file name)",
    )
    p.add_argument(
        "--infer-batch-size",
        type=int,
        default=None,
        help=f"images per scoring batch (default {config.INFER_BATCH_SIZE})",
    )
    p.add_argument("--json", action="store_true", help="print the per-seed table as JSON")
    _force_flag(p, "score seeds again whose partition was made from their model and this input")
    _dry_run_flag(p, "score")

    p = sub.add_parser(
        "query", parents=[parent], help="SQL over the views `predictions` and `runs` (history/runs.parquet)"
    )
    _common(p, "output")
    p.add_argument(
        "--run-id", "--run", dest="run_id", default=None, help="only this run (default: every run)"
    )
    p.add_argument("sql", help='e.g. "SELECT seed, avg(correct::int) FROM predictions GROUP BY seed"')
    p.add_argument(
        "--input-name", default=None, help="query a named --input's predictions, not the test split's"
    )
    p.add_argument(
        "--unrestricted",
        action="store_true",
        help="any SQL with DuckDB's full access to files and network (default: one read-only SELECT "
        "over the output's prediction files)",
    )
    p.add_argument(
        "--timeout",
        "--query-timeout",  # the name of its TOML key and LENET_BATCH_ variable: query_timeout
        dest="query_timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop the query after this long (default 300; exit 2)",
    )
    p.add_argument("--json", action="store_true", help="rows as JSON lines instead of a table")

    p = sub.add_parser("summary", parents=[parent], help="accuracy across seeds: tables, plots, report, gate")
    _common(p, "output", "run_id", "data", "verify_data")
    add_gate_flags(p)
    p.add_argument("--json", action="store_true", help="print summary.json to stdout (on exit 4 too)")
    _force_flag(p, "summarise again, nothing new or another baseline or rule (it replaces the verdict)")
    _dry_run_flag(p, "summarise")

    p = sub.add_parser("nightly", parents=[parent], help="train, infer and summarise one run (the main job)")
    _common(p, "output", "run_id", "seeds", "data", "verify_data", *CLUSTER_FLAGS)
    _recipe_flags(p)
    _limit_flags(p)
    add_gate_flags(p)
    p.add_argument("--json", action="store_true", help="print the night as JSON (on exits 3 and 4 too)")
    _force_flag(p, "score and summarise again what is done (trained seeds are never trained again)")
    _dry_run_flag(p, "train, resume, score, summarise, build")
    add_monitor_flags(p, nightly=True)
    _history_commands(sub, parent)
    _verdict_commands(sub, parent)
    return parser


def _verdict_commands(sub: argparse._SubParsersAction, parent: Parser) -> None:
    """`accept` and `compare`: a verdict recorded by hand, and a what-if that writes nothing."""
    p = sub.add_parser(
        "accept", parents=[parent], help="record a night as the new baseline: a deliberate change"
    )
    _common(p, "output")
    p.add_argument("run_id", metavar="RUN", help="the night to accept (its verdict stays as it is)")
    p.add_argument("--reason", required=True, help="why the change is deliberate (shown with the night)")
    p.add_argument("--json", action="store_true", help="print the night as JSON")
    p = sub.add_parser(
        "compare", parents=[parent], help="the gate's verdict of RUN against BASELINE; writes nothing"
    )
    _common(p, "output")
    p.add_argument("baseline_run", metavar="BASELINE", help="the run to compare with")
    p.add_argument("compared_run", metavar="RUN", help="the run judged")
    add_rule_flags(p)
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")


def _history_commands(sub: argparse._SubParsersAction, parent: Parser) -> None:
    """`runs`, `history`, `prune` and `check`: the runs of an output across nights, from their records."""
    p = sub.add_parser(
        "runs", parents=[parent], help="one line per run, newest first: stages, accuracy, gate"
    )
    _common(p, "output")
    p.add_argument("--last", type=_positive, default=None, metavar="N", help="only the N newest runs")
    add_links_flag(p)
    p.add_argument("--json", action="store_true", help="print the rows as JSON")

    p = sub.add_parser(
        "history", parents=[parent], help="rebuild history/: runs.parquet, trend PNGs and history.html"
    )
    _common(p, "output")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")

    p = sub.add_parser(
        "prune", parents=[parent], help="remove old nights' predictions, models and logs; keep their records"
    )
    _common(p, "output")
    p.add_argument(
        "--keep",
        required=True,
        metavar="90d|N",
        help="keep the nights of the last 90 days (90d) or the N newest; never pruned: the newest night, the "
        "baseline, the reference, accepted nights and nights being written",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would go and its size; write nothing")
    p.add_argument("--json", action="store_true", help="print every night's fate and the totals as JSON")
    _check_command(sub, parent)


def _check_command(sub: argparse._SubParsersAction, parent: Parser) -> None:
    """`check`: the output's health in one line and an exit code per state (monitor/health.py)."""
    p = sub.add_parser(
        "check",
        parents=[parent],
        help="the output's health for monitors: healthy 0, seeds_failed 3, regressed 4, running 5, "
        "failed 6, stale 7, inconclusive 8",
    )
    _common(p, "output")
    p.add_argument(
        "--max-age",
        default=None,
        metavar="DURATION",
        help="stale when no night succeeded within it: 26h (default), 90m, 2d, 3600s",
    )
    add_monitor_flags(p, nightly=False)
    p.add_argument("--json", action="store_true", help="print the state and its details as JSON")
