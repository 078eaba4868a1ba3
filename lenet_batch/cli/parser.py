"""The `lenet-batch` argument parser: one subparser per command, flags that default to None (unset)."""

import argparse
import sys

from lenet_batch import errors


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(errors.EXIT_USAGE)


def count(text: str) -> int:
    """A count of images: a whole number of at least 1 (a negative one would slice from the end)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not at least 1")
    return value


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
        "cpus_per_seed": (["--cpus-per-seed"], {"type": float, "help": "CPUs per seed's task (default 1)"}),
        "gpus_per_seed": (["--gpus-per-seed"], {"type": float, "help": "GPUs per seed's task (default 0)"}),
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


def _gate_flags(p: argparse.ArgumentParser, baseline_default: str) -> None:
    """The regression gate's flags (summary and nightly)."""
    p.add_argument(
        "--baseline", default=None, help=f"run id to compare with, or 'previous' (default {baseline_default})"
    )
    p.add_argument(
        "--max-drop", type=float, default=None, help="allowed drop of mean accuracy (default 0.01)"
    )


def _global_flags() -> Parser:
    """Flags every subcommand takes: config file, storage options, data verification, verbosity."""
    parent = Parser(add_help=False)
    parent.add_argument("--config", default=None, help="TOML file of settings (flags beat env beat file)")
    parent.add_argument(
        "--storage-option",
        action="append",
        metavar="KEY=VALUE",
        help='fsspec/s3fs option; a table as JSON: client_kwargs=\'{"region_name": "eu-west-1"}\'',
    )
    parent.add_argument(
        "--storage-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="connect and read timeout of the storage (default 10)",
    )
    parent.add_argument(
        "--storage-retries",
        type=int,
        default=None,
        help="retries of a storage request after a network error (default 2)",
    )
    parent.add_argument(
        "--no-verify",
        dest="verify_data",
        action="store_const",
        const=False,
        default=None,
        help="accept data files whose SHA-256 differs from Fashion-MNIST's",
    )
    parent.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parent.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return parent


def build_parser() -> Parser:
    """The `lenet-batch` argument parser."""
    parser = Parser(prog="lenet-batch", description="LeNet-5 on Fashion-MNIST over many seeds, on Ray.")
    parent = _global_flags()
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("data", parents=[parent], help="where the data comes from, counts, class balance")
    _common(p, "data")
    p.add_argument("--plot", metavar="FILE", help="write a PNG of the first training images with class names")
    p.add_argument("--first", type=count, default=18, help="images in the plot (default 18)")
    p.add_argument("--json", action="store_true", help="print the description as JSON")

    p = sub.add_parser("train", parents=[parent], help="train seeds in parallel as Ray tasks")
    _common(p, "output", "run_id", "seeds", "data", "address", "cpus_per_seed", "gpus_per_seed")
    _recipe_flags(p)
    p.add_argument(
        "--dry-run", action="store_true", help="check settings and data, print the plan, train nothing"
    )
    p.add_argument("--json", action="store_true", help="print the per-seed table as JSON")

    p = sub.add_parser("predict", parents=[parent], help="one seed's predictions on the first test images")
    _common(p, "output", "run_id", "data")
    p.add_argument("--seed", type=int, required=True, help="the seed whose model to use")
    p.add_argument("--first", type=count, default=6, help="how many test images (default 6)")
    p.add_argument("--plot", metavar="FILE", help="write the 'true vs predicted' picture as PNG")

    p = sub.add_parser("infer", parents=[parent], help="score images with every seed's model into Parquet")
    _common(p, "output", "run_id", "seeds", "data", "address", "cpus_per_seed", "gpus_per_seed")
    p.add_argument("--input", default=None, help="images to score: IDX, .npy (N×28×28 uint8) or Parquet")
    p.add_argument("--input-labels", default=None, help="IDX labels file for an IDX --input (optional)")
    p.add_argument(
        "--input-name",
        default=None,
        help="name of the --input's predictions: scored/input=NAME/… (default: from its file name)",
    )
    p.add_argument(
        "--infer-batch-size", type=int, default=None, help="images per scoring batch (default 8192)"
    )
    p.add_argument("--json", action="store_true", help="print the per-seed table as JSON")

    p = sub.add_parser("query", parents=[parent], help="SQL over the predictions (a `predictions` view)")
    _common(p, "output", "run_id")
    p.add_argument("sql", help='e.g. "SELECT seed, avg(correct::int) FROM predictions GROUP BY seed"')
    p.add_argument("--json", action="store_true", help="rows as JSON lines instead of a table")
    p.add_argument(
        "--input-name",
        default=None,
        help="query a named --input's predictions, not the test split's",
    )
    p.add_argument(
        "--unrestricted",
        action="store_true",
        help="any SQL with DuckDB's full access to files and network (default: one read-only SELECT "
        "over the output's prediction files)",
    )

    p = sub.add_parser("summary", parents=[parent], help="accuracy across seeds: tables, plots, report, gate")
    _common(p, "output", "run_id", "data")
    _gate_flags(p, "none")
    p.add_argument("--json", action="store_true", help="print summary.json to stdout")

    p = sub.add_parser("nightly", parents=[parent], help="train, infer and summarise one run (the main job)")
    _common(p, "output", "run_id", "seeds", "data", "address", "cpus_per_seed", "gpus_per_seed")
    _recipe_flags(p)
    _gate_flags(p, "previous")
    return parser
