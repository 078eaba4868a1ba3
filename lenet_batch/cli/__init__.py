"""`lenet-batch`: parse flags, run the subcommand, map errors to one line and an exit code."""

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from lenet_batch import config, config_layers, errors
from lenet_batch.cli.parser import build_parser
from lenet_batch.cli.signals import sigterm_handled, stopped_by_sigterm
from lenet_batch.store import run_log

log = logging.getLogger("lenet_batch")
# Commands that work on one run: their log is also kept under runs/<run_id>/logs/.
RUN_COMMANDS = {"train", "infer", "summary", "nightly"}


def settings_from_args(args: argparse.Namespace) -> config.Settings:
    """Resolve flags over environment over --config over defaults."""
    names = set(config.Settings.__dataclass_fields__)
    flags: dict[str, Any] = {k: v for k, v in vars(args).items() if k in names}
    flags["storage_options"] = config_layers.parse_storage_options(args.storage_option)
    return config.resolve(flags, config_path=args.config)


def configure_logging(verbose: bool, quiet: bool) -> None:
    """Progress to stderr (INFO; --quiet: warnings only), every line stamped in ISO-8601 UTC."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_lenet_batch_stderr", False)]:
        root.removeHandler(old)  # main() called again in one process (tests, notebooks): one handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(run_log.formatter())
    handler.setLevel(logging.WARNING if quiet else logging.NOTSET)  # --quiet quiets the terminal only
    handler.addFilter(run_log.ours_or_warnings)
    handler._lenet_batch_stderr = True  # cluster.session.TERMINAL_MARK: Ray's own lines follow its level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # other libraries: warnings only
    logging.getLogger("lenet_batch").setLevel(logging.DEBUG if verbose else logging.INFO)


def _durable_log(args: argparse.Namespace, settings: config.Settings) -> run_log.DurableLogHandler | None:
    """A durable copy of this command's log for the run it works on (none for a dry run or no run)."""
    if args.command not in RUN_COMMANDS or getattr(args, "dry_run", False):
        return None
    return run_log.attach(settings.run_ref(), run_log.log_name(args.command))


def _run(args: argparse.Namespace, settings: config.Settings) -> int:
    """The subcommand's exit code: user errors as one line, bugs with their traceback."""
    from lenet_batch.cli.commands import COMMANDS  # the stages' imports: not for --help or a bad flag

    try:
        code = COMMANDS[args.command](args, settings)
        return _late_sigterm(args.command) if stopped_by_sigterm() else code
    except errors.LenetError as exc:
        log.debug("%s", exc, exc_info=True)
        sys.stderr.write(f"lenet-batch {args.command}: error: {exc}\n")
        return _late_sigterm(args.command) if stopped_by_sigterm() else exc.exit_code
    except KeyboardInterrupt:
        if stopped_by_sigterm():
            log.warning("stopped by SIGTERM")
            released = ", lock released" if args.command == "nightly" else ""  # only the nightly locks
            cleaned = f"; tasks stopped{released}, the running stage marked interrupted; the next run resumes"
            cleaned = cleaned if args.command in RUN_COMMANDS else ""  # query, runs, data: nothing to resume
            sys.stderr.write(f"lenet-batch {args.command}: stopped by SIGTERM{cleaned}\n")
            return errors.EXIT_INTERRUPTED
        sys.stderr.write("lenet-batch: interrupted\n")
        return 130
    except Exception:
        log.exception("lenet-batch %s: a bug, please report it with this traceback", args.command)
        return errors.EXIT_BUG


def _late_sigterm(command: str) -> int:
    """A SIGTERM whose interrupt something swallowed: the command ended on its own, and says so (143)."""
    log.warning("stopped by SIGTERM as the command ended")
    who = f"lenet-batch {command}".strip()
    sys.stderr.write(f"{who}: stopped by SIGTERM as it ended; what it ran is complete\n")
    return errors.EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `lenet-batch`; returns the exit code. SIGTERM unwinds it from start to end."""
    with sigterm_handled():
        try:
            return _main(argv)
        except KeyboardInterrupt:  # outside the command: its settings, its log's last save, its output
            if stopped_by_sigterm():
                return _late_sigterm("")
            sys.stderr.write("lenet-batch: interrupted\n")
            return 130


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    # Read by Ray at import: keep every seed's epoch line (they look alike) and no colour codes in logs.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    try:
        settings = settings_from_args(args)
    except errors.LenetError as exc:
        sys.stderr.write(f"lenet-batch {args.command}: error: {exc}\n")
        return exc.exit_code
    durable = _durable_log(args, settings)
    code = errors.EXIT_BUG
    try:
        code = _run(args, settings)
    finally:
        if durable is not None:  # refused runs (usage, lock, no Ray) did nothing worth a log in the run
            run_log.detach(durable, keep=code not in errors.NOTHING_RAN)
    return code


if __name__ == "__main__":
    sys.exit(main())
