"""What each `lenet-batch` subcommand does with its resolved settings; returns an exit code.

COMMANDS, at the end, maps each subcommand's name to its handler.
"""

import argparse
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from lenet_batch.cli import output
from lenet_batch.config import Settings
from lenet_batch.data.classes import CLASS_NAMES
from lenet_batch.errors import (
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_SEEDS_FAILED,
    DataError,
    LenetError,
)
from lenet_batch.pipeline import stages
from lenet_batch.store import hand_writers, storage
from lenet_batch.store.layout import Layout
from lenet_batch.store.seed_records import ScoreResult, TrainResult

log = logging.getLogger(__name__)
DOCUMENTED = (
    EXIT_SEEDS_FAILED,
    EXIT_REGRESSION,
    EXIT_INCONCLUSIVE,
)  # exits that print the command's document


def cmd_data(args: argparse.Namespace, settings: Settings) -> int:
    """Describe the dataset; optionally plot the first training images."""
    dataset = stages.load_dataset(settings.data_request(), settings.storage_options)
    info = dataset.describe()
    if args.plot:
        from lenet_batch.summary.figures import train_images_png

        png = train_images_png(dataset.train_images[: args.first], dataset.train_labels[: args.first])
        storage.write_bytes_atomic(args.plot, png, settings.storage_options)
        info["plot"] = args.plot
    if args.json:
        output.print_json(info)
    elif not args.quiet:
        output.print_dataset(info)
    return EXIT_OK


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    """Train the seeds on Ray; print the per-seed table (--dry-run: the plan); exit 3 when a seed failed."""
    from lenet_batch.pipeline import single

    show = lambda rows: output.print_rows([r.to_row() for r in rows], TrainResult.COLUMNS, args.json)  # noqa: E731
    with _document_printed(show):
        done = single.train(settings, dry_run=args.dry_run)
    if args.dry_run:
        if not args.json:
            print(
                f"run {done.plan.run_id}: seeds {settings.seed_list()} x {settings.epochs} epochs, "
                f"batch {settings.batch_size}, lr {settings.lr}; "
                f"{settings.cpus_per_seed} CPU / {settings.gpus_per_seed} GPU per seed; "
                f"data {done.notes.get('data')}; outputs under {settings.run_ref().run_dir}; "
                "nothing trained (--dry-run)"
            )
        output.print_plan(done.plan, args.json)
        return EXIT_OK
    show(done.rows or [])
    return EXIT_OK


def cmd_predict(args: argparse.Namespace, settings: Settings) -> int:
    """Predict the first test images with one seed's model; print true vs predicted; optional picture."""
    from lenet_batch.pipeline import single

    images, labels, predicted = single.predict(settings, args.seed, args.first)
    output.print_predictions([int(x) for x in labels], [int(x) for x in predicted], CLASS_NAMES)
    if args.plot:
        from lenet_batch.summary.figures import test_predictions_png

        png = test_predictions_png(images, labels, predicted)
        storage.write_bytes_atomic(args.plot, png, settings.storage_options)
        print(f"plot: {args.plot}")
    return EXIT_OK


def cmd_infer(args: argparse.Namespace, settings: Settings) -> int:
    """Score the input with every trained seed's model; write Parquet partitions (skipping those done)."""
    from lenet_batch.pipeline import single

    show = lambda rows: output.print_rows([r.to_row() for r in rows], ScoreResult.COLUMNS, args.json)  # noqa: E731
    with _document_printed(show):
        done = single.infer(settings, force=args.force, dry_run=args.dry_run)
    if args.dry_run:
        output.print_plan(done.plan, args.json)
    else:
        show(done.rows or [])
    return EXIT_OK


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    """Run SQL over the predictions; print a table or JSON lines to stdout."""
    from lenet_batch.scoring.query import run_query

    table = run_query(
        args.sql,
        settings.layout(),
        run_id=settings.run_id or None,
        input_name=settings.input_name or None,
        restricted=not args.unrestricted,
        timeout=settings.query_timeout,
    )
    rows = table.to_pylist()
    if args.json:
        output.print_json_lines(rows)
    else:
        print(output.format_table(rows, table.column_names) if rows else "(no rows)")
    return EXIT_OK


def cmd_summary(args: argparse.Namespace, settings: Settings) -> int:
    """Aggregate a run's predictions and metrics; write tables, plots and report; gate on regressions.

    Nothing new since the run's summary: it is reused (nothing written) and its verdict stands; --force
    makes it again. Its document goes to stdout on exit 4 too."""
    from lenet_batch.pipeline import hand_summary

    show = lambda summary: output.print_summary(summary, args.json)  # noqa: E731 - twice, below
    with _document_printed(show):
        done = hand_summary.summary(settings, force=args.force, dry_run=args.dry_run)
    if args.dry_run:
        output.print_plan(done.plan, args.json)
    else:
        show(done.summary)
    return EXIT_OK


def cmd_nightly(args: argparse.Namespace, settings: Settings) -> int:
    """Train, infer, summarise and rebuild the history under a lock on the output; print what it found.

    A finished night is "nothing to do" (nothing written); the night's headline and document go to stdout
    on exits 3 and 4 too."""
    from lenet_batch.pipeline import nightly

    if args.dry_run:
        output.print_plan(nightly.dry_run(settings, force=args.force), args.json)
        return EXIT_OK
    show = lambda night: output.print_night(night, args.json)  # noqa: E731 - twice, below
    with _document_printed(show):
        night = nightly.nightly(settings, force=args.force)
    show(night)
    return EXIT_OK


@contextlib.contextmanager
def _document_printed(show: Callable[[Any], None]) -> Iterator[None]:
    """On exit 3 or 4, print what the stage produced (its document) before the error line."""
    try:
        yield
    except LenetError as exc:
        if exc.document is not None and exc.exit_code in DOCUMENTED:
            show(exc.document)
        raise


def _layout(settings: Settings) -> Layout:
    """The output location; one that does not exist is a DataError (a typo must not read as "no runs")."""
    layout = settings.layout()
    if not storage.exists(layout.output, layout.options):
        raise DataError(f"--output {settings.output}: not found (no runs have been written there)")
    return layout


def cmd_runs(args: argparse.Namespace, settings: Settings) -> int:
    """One line per run, newest first: stages, seeds, accuracy with its CI, ensemble, gate and baseline."""
    from lenet_batch.history.stage import list_runs
    from lenet_batch.monitor.links import row_links

    layout, base = _layout(settings), settings.report_base_url
    rows = list_runs(layout, last=args.last)
    if args.json:
        output.print_json([{**row.to_json(), **row_links(row.report, layout, base)} for row in rows])
    else:
        output.print_runs(rows, row_links(rows[0].report if rows else None, layout, base))
    return EXIT_OK


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild <output>/history/ (runs.parquet, trend PNGs, history.html) from the runs' small records."""
    from lenet_batch.history.stage import build_history

    layout = _layout(settings)
    with hand_writers.hand_writer(layout, "history", None, settings.stale_lock_seconds):
        result = build_history(layout)
    if args.json:
        output.print_json(result.to_json())
    else:
        output.print_history(result)
    return EXIT_OK


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    """Remove the predictions, models and logs of the nights older than --keep (their records stay), then
    rewrite the history; --dry-run lists what would go and writes nothing."""
    from lenet_batch.pipeline.prune import prune

    result = prune(
        settings.layout(),
        args.keep,
        dry_run=args.dry_run,
        stale_seconds=settings.stale_lock_seconds,
        window=settings.reference_window,
    )
    output.print_prune(result, args.json)
    return EXIT_OK


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """The output's health for monitors: one line (or JSON), the state's exit code, optional metrics."""
    from lenet_batch.monitor.check import check
    from lenet_batch.units import parse_duration

    max_age = parse_duration(settings.max_age, "--max-age")
    found = check(
        settings.layout(),
        max_age,
        settings.stale_lock_seconds,
        settings.metrics_file,
        settings.report_base_url,
    )
    if args.json:
        output.print_json(found.to_json())
    else:
        print(found.message)
    return found.exit_code


def cmd_accept(args: argparse.Namespace, settings: Settings) -> int:
    """Record a night as accepted: the new baseline and reference (its verdict stays as it is)."""
    from lenet_batch.pipeline import verdicts

    night = verdicts.accept(settings, args.reason)
    if args.json:
        output.print_json(night.to_json())
    else:
        said = night.accepted
        assert said is not None  # accept() records it or raises
        print(f"run {night.run_id} accepted as the new baseline and reference: {said.reason!r} ({said.by})")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace, settings: Settings) -> int:
    """The gate's verdict of one run against another, by the given rule; nothing is written."""
    from lenet_batch.pipeline import verdicts

    cmp = verdicts.compare(settings, args.baseline_run, args.compared_run)
    if args.json:
        output.print_json(cmp.to_json())
    else:
        print(f"{args.compared_run} against {args.baseline_run}: {cmp.line()}")
    return EXIT_OK


# Each subcommand's handler, by the name the parser gives it.
COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "data": cmd_data,
    "train": cmd_train,
    "predict": cmd_predict,
    "infer": cmd_infer,
    "query": cmd_query,
    "summary": cmd_summary,
    "nightly": cmd_nightly,
    "runs": cmd_runs,
    "history": cmd_history,
    "prune": cmd_prune,
    "check": cmd_check,
    "accept": cmd_accept,
    "compare": cmd_compare,
}
