"""The summary stage: a run's predictions and metrics in; its summary, report and regression verdict out."""

import io
import logging
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lenet_batch import report, run_record, storage, summary
from lenet_batch.config import parse_seeds
from lenet_batch.errors import ConfigError, DataError, RegressionDetected
from lenet_batch.seed_run import now_utc
from lenet_batch.storage import Layout

log = logging.getLogger(__name__)

PICTURE_COUNT = 18  # images in each of the seed article's two pictures


def read_metrics(
    layout: Layout, run_id: str, seeds: list[int], options: dict | None
) -> dict[int, dict | None]:
    """Each seed's metrics.json (None, with a warning, where a seed has none)."""
    metrics: dict[int, dict | None] = {}
    for seed in seeds:
        uri = layout.metrics_json(run_id, seed)
        metrics[seed] = storage.read_json(uri, options) if storage.exists(uri, options) else None
        if metrics[seed] is None:
            log.warning("seed %d: no %s; its training numbers are left empty", seed, uri)
    return metrics


def failed_seeds(record: dict[str, Any], predicted: list[int]) -> list[int]:
    """Seeds the train or infer stage marked failed, plus configured seeds that have no predictions."""
    failed = set()
    for stage in ("train", "infer"):
        rows = (record.get("stages", {}).get(stage) or {}).get("seeds") or []
        failed.update(int(r["seed"]) for r in rows if r.get("status") == "failed")
    spec = (record.get("config") or {}).get("seeds")
    if spec is not None:
        failed.update(set(parse_seeds(str(spec))) - set(predicted))
    return sorted(failed)


def previous_run(layout: Layout, run_id: str, options: dict | None) -> str | None:
    """The latest run id sorted before this one whose summary stage completed (regressed runs are skipped)."""
    earlier = [r for r in storage.list_dir(storage.join(layout.output, "runs"), options) if r < run_id]
    for candidate in sorted(earlier, reverse=True):
        uri = layout.run_json(candidate)
        if not storage.exists(uri, options):
            continue
        stage = (storage.read_json(uri, options).get("stages") or {}).get("summary") or {}
        if stage.get("status") == "complete" and storage.exists(summary_json(layout, candidate), options):
            return candidate
    return None


def summary_json(layout: Layout, run_id: str) -> str:
    """Where a run's summary.json lives."""
    return storage.join(layout.summary_dir(run_id), "summary.json")


def load_baseline(layout: Layout, run_id: str, baseline: str, options: dict | None) -> dict | None:
    """The baseline run's summary.json: a run id, "previous", or "" for none."""
    if not baseline:
        return None
    base_id = previous_run(layout, run_id, options) if baseline == "previous" else baseline
    if base_id is None:
        log.info("run %s: no earlier run with a complete summary; no baseline to compare with", run_id)
        return None
    if base_id == run_id:
        raise ConfigError(f"--baseline {baseline}: the baseline must be another run than {run_id}")
    uri = summary_json(layout, base_id)
    if not storage.exists(uri, options):
        raise ConfigError(
            f"--baseline {baseline}: {uri} not found; summarise run {base_id} first or pick another"
        )
    doc = storage.read_json(uri, options)
    if (doc.get("across_seeds") or {}).get("mean") is None:
        raise DataError(f"{uri}: no across_seeds.mean to compare with; summarise run {base_id} again")
    return doc


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """A DataFrame as zstd-compressed Parquet bytes."""
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf, compression="zstd")
    return buf.getvalue()


def picture_inputs(images: dict | None, samples: pd.DataFrame) -> tuple[dict, np.ndarray | None]:
    """The images for the article's pictures, the test ones cut to those with an ensemble prediction."""
    images = dict(images or {})
    if "test_images" not in images or "test_labels" not in images:
        return images, None
    ensemble = samples.set_index("sample_id")["ensemble"]
    # sample_id is the image's index in the test split, as the infer stage numbers them
    ids = [i for i in range(min(PICTURE_COUNT, len(images["test_images"]))) if i in ensemble.index]
    images["test_images"] = np.asarray(images["test_images"])[ids]
    images["test_labels"] = np.asarray(images["test_labels"])[ids]
    return images, ensemble.loc[ids].to_numpy()


def write_outputs(layout: Layout, run_id: str, result: summary.Summary, doc: dict[str, Any],
                  figures: dict[str, bytes], options: dict | None) -> None:  # fmt: skip
    """Figures, tables and reports first; summary.json last, so its presence means the rest is there."""
    folder = layout.summary_dir(run_id)
    for name, png in figures.items():
        storage.write_bytes_atomic(storage.join(folder, name), png, options)
    for name in sorted(set(report.FIGURES) - set(figures)):  # e.g. an earlier summary drew the pictures
        stale = storage.join(folder, name)
        if storage.exists(stale, options):  # storage.remove raises on a missing file despite its docstring
            storage.remove(stale, options)
    storage.write_bytes_atomic(
        storage.join(folder, "summary.parquet"), parquet_bytes(result.per_seed), options
    )
    per_class = parquet_bytes(result.per_class_by_seed.assign(run_id=run_id))
    storage.write_bytes_atomic(storage.join(folder, "per_class.parquet"), per_class, options)
    markdown = report.render_markdown(doc, list(figures))
    storage.write_bytes_atomic(storage.join(folder, "report.md"), markdown.encode(), options)
    storage.write_bytes_atomic(doc["report_html"], report.render_html(doc, figures).encode(), options)
    storage.write_json_atomic(summary_json(layout, run_id), doc, options)


def summarize_run(output: str, run_id: str, options: dict | None = None, baseline: str = "",
                  max_drop: float = 0.01, images: dict | None = None) -> dict[str, Any]:  # fmt: skip
    """Summarise one run into runs/<id>/summary/; raises RegressionDetected (exit 4) after writing."""
    from lenet_batch import predict  # the infer stage's module; imported here so this one imports alone

    layout = Layout(output)
    table = predict.read_predictions(layout, run_id, options)
    if table.num_rows == 0:
        raise DataError(f"run {run_id}: no predictions under {layout.predictions_root()}; run infer first")
    record = run_record.read_run(layout, run_id, options)
    seeds = sorted(int(s) for s in set(table.column("seed").to_pylist()))
    metrics = read_metrics(layout, run_id, seeds, options)
    result = summary.summarize(table, metrics, run_id, failed_seeds(record, seeds))
    doc = result.to_dict()
    doc["comparison"] = summary.compare(doc, load_baseline(layout, run_id, baseline, options), max_drop)
    pictures, test_predictions = picture_inputs(images, result.samples)
    figures = report.build_figures(doc, metrics, pictures, test_predictions)
    folder = layout.summary_dir(run_id)
    doc.update(report_html=storage.join(folder, "report.html"), report_md=storage.join(folder, "report.md"),
               files=sorted([*figures, "summary.parquet", "per_class.parquet", "summary.json", "report.md",
                             "report.html"]), generated_at=now_utc())  # fmt: skip
    write_outputs(layout, run_id, result, doc, figures, options)
    return finish(layout, run_id, doc, options)


def finish(layout: Layout, run_id: str, doc: dict[str, Any], options: dict | None) -> dict[str, Any]:
    """Record the stage in run.json, log the result, and fail the job on a regression."""
    cmp = doc["comparison"]
    status = "regressed" if cmp["regressed"] else "complete"
    run_record.update_stage(
        layout, run_id, "summary", None, options, status=status, mean_accuracy=doc["across_seeds"]["mean"],
        ensemble_accuracy=doc["ensemble"]["accuracy"], baseline_run_id=cmp["baseline_run_id"],
        regressed=cmp["regressed"], report_html=doc["report_html"],
    )  # fmt: skip
    acc = doc["across_seeds"]
    log.info("run %s: %d seeds, mean test accuracy %.4f (std %s), ensemble %.4f; report %s", run_id,
             doc["n_seeds"], acc["mean"], "undefined" if acc["std"] is None else f"{acc['std']:.4f}",
             doc["ensemble"]["accuracy"], doc["report_html"])  # fmt: skip
    if cmp["regressed"]:
        raise RegressionDetected(
            f"run {run_id}: " + "; ".join(cmp["reasons"]) + f" (report: {doc['report_html']})"
        )
    return doc
