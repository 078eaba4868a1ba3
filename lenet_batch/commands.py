"""What each `lenet-batch` subcommand does with its resolved settings; returns an exit code."""

import argparse
import logging
import sys
from typing import Any

import numpy as np

from lenet_batch import data, pipeline, storage
from lenet_batch.config import Settings
from lenet_batch.errors import EXIT_OK

log = logging.getLogger(__name__)


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table (for people; use --json for programs)."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def describe(dataset: data.FashionMNIST) -> dict[str, Any]:
    """Source, counts, shapes, dtypes and class balance of the dataset."""
    return {
        "source": dataset.source,
        "splits": {
            split: {
                "images": {
                    "shape": list(getattr(dataset, f"{split}_images").shape),
                    "dtype": str(getattr(dataset, f"{split}_images").dtype),
                },
                "labels": {
                    "shape": list(getattr(dataset, f"{split}_labels").shape),
                    "dtype": str(getattr(dataset, f"{split}_labels").dtype),
                },
                "class_balance": data.class_balance(getattr(dataset, f"{split}_labels")),
            }
            for split in ("train", "test")
        },
        "sha256": dataset.digests,
    }


def cmd_data(args: argparse.Namespace, settings: Settings) -> int:
    """Describe the dataset; optionally plot the first training images."""
    dataset = pipeline.load_dataset(settings)
    info = describe(dataset)
    if args.plot:
        from lenet_batch import report

        png = report.train_images_png(dataset.train_images[: args.first], dataset.train_labels[: args.first])
        storage.write_bytes_atomic(args.plot, png, settings.storage_options)
        info["plot"] = args.plot
    if args.json:
        from lenet_batch.cli import print_json

        print_json(info)
    elif not args.quiet:
        print(f"source: {info['source']}")
        for split, s in info["splits"].items():
            print(
                f"{split}: images {tuple(s['images']['shape'])} {s['images']['dtype']}, "
                f"labels {tuple(s['labels']['shape'])} {s['labels']['dtype']}"
            )
            print("  " + ", ".join(f"{k} {v}" for k, v in s["class_balance"].items()))
        if args.plot:
            print(f"plot: {args.plot}")
    return EXIT_OK


SEED_COLUMNS = ["seed", "status", "test_accuracy", "train_seconds", "attempts"]


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    """Train the seeds on Ray; print the per-seed table; exit 3 when any seed failed."""
    run_id = settings.resolved_run_id()
    if args.dry_run:
        dataset = pipeline.load_dataset(settings)
        print(
            f"run {run_id}: seeds {settings.seed_list()} x {settings.epochs} epochs, "
            f"batch {settings.batch_size}, "
            f"lr {settings.lr}; {settings.cpus_per_seed} CPU / {settings.gpus_per_seed} GPU per seed; "
            f"data {dataset.source} ({len(dataset.train_images)} train); outputs under "
            f"{storage.Layout(settings.output).run_dir(run_id)}; nothing trained (--dry-run)"
        )
        return EXIT_OK
    rows = pipeline.train(settings, run_id)
    _print_rows(args, rows, SEED_COLUMNS + (["error"] if any("error" in r for r in rows) else []))
    pipeline.raise_if_failed(rows, "train")
    return EXIT_OK


def _print_rows(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str]) -> None:
    if getattr(args, "json", False):
        from lenet_batch.cli import print_json

        print_json(rows)
    else:
        print(format_table(rows, columns))


def cmd_predict(args: argparse.Namespace, settings: Settings) -> int:
    """Predict the first test images with one seed's model; print true vs predicted; optional picture."""
    import mxnet as mx

    from lenet_batch import model, predict, train
    from lenet_batch.errors import DataError, ModelFileError

    run_id = settings.resolved_run_id()
    layout = storage.Layout(settings.output)
    try:  # the same checked loading as batch inference: run exists, training complete, digest matches
        params, metrics = predict.load_model(layout, run_id, args.seed, settings.storage_options)
    except (DataError, ModelFileError) as exc:
        raise ModelFileError(f"no model for that run and seed: {exc}") from None
    net = model.load_lenet(params, layout.model_params(run_id, args.seed), mx.cpu())
    dataset = pipeline.load_dataset(settings)
    images, labels = dataset.test_images[: args.first], dataset.test_labels[: args.first]
    recipe = predict.recipe_of(metrics)
    predicted = train.predict_logits(net, images, mx.cpu(), recipe).argmax(axis=1)
    for i, (t, p) in enumerate(zip(labels, predicted, strict=True)):
        print(
            f"{i}\ttrue {data.CLASS_NAMES[t]:<12}\tpredicted {data.CLASS_NAMES[p]:<12}\t"
            f"{'ok' if t == p else 'WRONG'}"
        )
    print(f"{int(np.sum(labels == predicted))}/{len(labels)} correct")
    if args.plot:
        from lenet_batch import report

        png = report.test_predictions_png(images, labels, predicted)
        storage.write_bytes_atomic(args.plot, png, settings.storage_options)
        print(f"plot: {args.plot}")
    return EXIT_OK


def cmd_infer(args: argparse.Namespace, settings: Settings) -> int:
    """Score the input with every trained seed's model on Ray; write Parquet partitions."""
    rows = pipeline.infer(settings, settings.resolved_run_id())
    _print_rows(args, rows, ["seed", "status", "rows", "accuracy", "seconds"])
    pipeline.raise_if_failed(rows, "infer")
    return EXIT_OK


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    """Run SQL over the predictions; print a table or JSON lines to stdout."""
    from lenet_batch import query

    table = query.run_query(
        args.sql, settings.output, settings.storage_options, run_id=settings.run_id or None
    )
    rows = table.to_pylist()
    if args.json:
        import json

        for row in rows:
            sys.stdout.write(json.dumps(row, default=str) + "\n")
    else:
        print(format_table(rows, table.column_names) if rows else "(no rows)")
    return EXIT_OK


def cmd_summary(args: argparse.Namespace, settings: Settings) -> int:
    """Aggregate a run's predictions and metrics; write tables, plots and report; gate on regressions."""
    dataset = _dataset_for_pictures(settings)
    result = pipeline.summarize(settings, settings.resolved_run_id(), dataset=dataset)
    if args.json:
        from lenet_batch.cli import print_json

        print_json(result)
    else:
        print(pipeline.headline(result["run_id"], result))
        print(pipeline.comparison_line(result))
        print(f"report: {result['report_html']}")
    return EXIT_OK


def _dataset_for_pictures(settings: Settings) -> data.FashionMNIST | None:
    """The dataset for the report's two image pictures; the summary still works without it."""
    from lenet_batch.errors import DataError

    try:
        return pipeline.load_dataset(settings)
    except DataError as exc:
        log.warning("report without the image pictures: %s", exc)
        return None


def cmd_nightly(args: argparse.Namespace, settings: Settings) -> int:
    """Train, infer and summarise one run under a lock on the output; print the headline and report path."""
    result = pipeline.nightly(settings)
    print(result["headline"])
    print(f"report: {result['report_html']}")
    return EXIT_OK
