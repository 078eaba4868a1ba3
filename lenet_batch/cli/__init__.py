"""`lenet-batch`: parse flags, run the subcommand, map errors to one line and an exit code."""

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

from lenet_batch import config, errors
from lenet_batch.cli.parser import build_parser

log = logging.getLogger("lenet_batch")


def settings_from_args(args) -> config.Settings:
    """Resolve flags over environment over --config over defaults."""
    names = set(config.Settings.__dataclass_fields__)
    flags: dict[str, Any] = {k: v for k, v in vars(args).items() if k in names}
    flags["storage_options"] = config.parse_storage_options(args.storage_option)
    return config.resolve(flags, config_path=args.config)


def configure_logging(verbose: bool, quiet: bool) -> None:
    """Progress to stderr: INFO by default."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("lenet_batch").setLevel(level)


_sigterm = threading.Event()


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (cron timeout, kill, Kubernetes): unwind as on Ctrl-C, once, so that tasks stop, the lock is
    released and the running stage is marked; a second SIGTERM during that clean-up is ignored."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _sigterm.set()
    # KeyboardInterrupt is what Ray's blocking calls (ray.wait, ray.get) let through; main() tells them apart.
    raise KeyboardInterrupt("SIGTERM")


@contextlib.contextmanager
def _sigterm_handled() -> Iterator[None]:
    """Our SIGTERM handler for the command's duration (main thread only), the previous one restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _sigterm.clear()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `lenet-batch`; returns the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    # Read by Ray at import: keep every seed's epoch line (they look alike) and no colour codes in logs.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    from lenet_batch.cli import commands

    try:
        with _sigterm_handled():
            settings = settings_from_args(args)
            return getattr(commands, f"cmd_{args.command}")(args, settings)
    except errors.LenetError as exc:
        sys.stderr.write(f"lenet-batch {args.command}: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        if _sigterm.is_set():
            sys.stderr.write(
                f"lenet-batch {args.command}: stopped by SIGTERM; tasks stopped, lock released, the running "
                "stage marked interrupted; the next run resumes\n"
            )
            return errors.EXIT_INTERRUPTED
        sys.stderr.write("lenet-batch: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
