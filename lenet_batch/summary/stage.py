"""The summary stage: a run's predictions and metrics in; its summary, report and regression verdict out."""

import io
import logging
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lenet_batch.config import parse_seeds
from lenet_batch.errors import DataError, RegressionDetected
from lenet_batch.provenance import now_utc
from lenet_batch.scoring.committed import read_predictions
from lenet_batch.store import run_record, storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.seed_records import SeedMetrics, load_complete
from lenet_batch.summary import figures, gate, report, statistics
from lenet_batch.summary.baseline import PREVIOUS, load_baseline

log = logging.getLogger(__name__)

PICTURE_COUNT = 18  # images in each of the seed article's two pictures


def read_metrics(run: RunRef, seeds: list[int]) -> dict[int, SeedMetrics | None]:
    """Each seed's metrics.json (None, with a warning, where a seed has none)."""
    metrics = {seed: load_complete(run, seed) for seed in seeds}
    for seed, m in metrics.items():
        if m is None:
            log.warning("seed %d: no %s; its training numbers are left empty", seed, run.metrics_json(seed))
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


def write_outputs(
    run: RunRef, result: statistics.Summary, doc: dict[str, Any], pngs: dict[str, bytes]
) -> None:
    """Figures, tables and reports first; summary.json last, so its presence means the rest is there."""
    folder, options = run.summary_dir, run.options
    for name, png in pngs.items():
        storage.write_bytes_atomic(storage.join(folder, name), png, options)
    for name in sorted(set(figures.FIGURES) - set(pngs)):  # e.g. an earlier summary drew the pictures
        stale = storage.join(folder, name)
        if storage.exists(stale, options):
            storage.remove(stale, options)
    storage.write_bytes_atomic(
        storage.join(folder, "summary.parquet"), parquet_bytes(result.per_seed), options
    )
    per_class = parquet_bytes(result.per_class_by_seed.assign(run_id=run.run_id))
    storage.write_bytes_atomic(storage.join(folder, "per_class.parquet"), per_class, options)
    markdown = report.render_markdown(doc, list(pngs))
    storage.write_bytes_atomic(storage.join(folder, "report.md"), markdown.encode(), options)
    storage.write_bytes_atomic(doc["report_html"], report.render_html(doc, pngs).encode(), options)
    storage.write_json_atomic(run.summary_json, doc, options)


def summarize_run(
    run: RunRef,
    *,
    baseline: str = PREVIOUS,
    rule: gate.GateRule | None = None,
    images: dict | None = None,
) -> dict[str, Any]:
    """Summarise one run into runs/<id>/summary/; raises RegressionDetected (exit 4) after writing."""
    table = read_predictions(run.layout, run.run_id)
    if table.num_rows == 0:
        raise DataError(
            f"run {run.run_id}: no predictions under {run.layout.predictions_root()}; run infer first"
        )
    record = run_record.read_run(run)
    seeds = sorted(int(s) for s in set(table.column("seed").to_pylist()))
    metrics = read_metrics(run, seeds)
    result = statistics.summarize(table, metrics, run.run_id, failed_seeds(record, seeds))
    doc = result.to_dict()
    base = load_baseline(run, baseline)
    doc["comparison"] = gate.compare(doc, base.summary, rule, why_none=base.reason)
    pictures, test_predictions = picture_inputs(images, result.samples)
    pngs = figures.build_figures(doc, metrics, pictures, test_predictions)
    files = [*pngs, "summary.parquet", "per_class.parquet", "summary.json", "report.md", "report.html"]
    doc.update(
        report_html=storage.join(run.summary_dir, "report.html"),
        report_md=storage.join(run.summary_dir, "report.md"),
        files=sorted(files),
        generated_at=now_utc(),
    )
    write_outputs(run, result, doc, pngs)
    return finish(run, doc)


def finish(run: RunRef, doc: dict[str, Any]) -> dict[str, Any]:
    """Record the stage in run.json, log the result, and fail the job on a regression."""
    cmp, acc = doc["comparison"], doc["across_seeds"]
    run_record.update_stage(
        run,
        "summary",
        None,
        status="regressed" if cmp["regressed"] else "complete",
        mean_accuracy=acc["mean"],
        ensemble_accuracy=doc["ensemble"]["accuracy"],
        baseline_run_id=cmp["baseline_run_id"],
        regressed=cmp["regressed"],
        verdict=gate.verdict(cmp),
        report_html=doc["report_html"],
    )
    std = "undefined" if acc["std"] is None else f"{acc['std']:.4f}"
    log.info(
        "run %s: %d seeds, mean test accuracy %.4f (std %s), ensemble %.4f; report %s",
        run.run_id,
        doc["n_seeds"],
        acc["mean"],
        std,
        doc["ensemble"]["accuracy"],
        doc["report_html"],
    )
    if cmp["regressed"]:
        raise RegressionDetected(f"run {run.run_id}: {gate.gate_line(cmp)} (report: {doc['report_html']})")
    return doc
