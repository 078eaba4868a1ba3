"""The summary stage: a run's predictions and metrics in; its summary, report and regression verdict out."""

import io
import logging
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lenet_batch.config import GateRule, parse_seeds
from lenet_batch.data.inputs import TEST_SPLIT
from lenet_batch.errors import DataError, RegressionDetected
from lenet_batch.provenance import now_utc
from lenet_batch.records import Attempt
from lenet_batch.scoring.committed import read_predictions
from lenet_batch.scoring.partitions import read_marker
from lenet_batch.store import run_record, storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.run_record import RunRecord, SeedEntry, StageClock
from lenet_batch.store.seed_records import SeedMetrics, load_complete, read_attempts
from lenet_batch.summary import disagreement, figures, gate, reuse
from lenet_batch.summary.baseline import PREVIOUS, Baseline, load_baseline
from lenet_batch.summary.prediction_frame import PREDICTION_COLUMNS
from lenet_batch.summary.report_render import render_html, render_markdown
from lenet_batch.summary.run_metadata import run_metadata
from lenet_batch.summary.statistics import RunStatistics, compute_statistics
from lenet_batch.summary.types import RunSummary, ScoredInput, StageTime

log = logging.getLogger(__name__)

PICTURE_COUNT = 18  # images in each of the seed article's two pictures
TABLES = ("summary.parquet", "per_class.parquet", "per_seed.csv", "disagreement.parquet")


def read_metrics(run: RunRef, seeds: list[int]) -> dict[int, SeedMetrics | None]:
    """Each seed's metrics.json (None, with a warning, where a seed has none)."""
    metrics = {seed: load_complete(run, seed) for seed in seeds}
    for seed, m in metrics.items():
        if m is None:
            log.warning("seed %d: no %s; its training numbers are left empty", seed, run.metrics_json(seed))
    return metrics


def failed_seeds(record: RunRecord, predicted: list[int]) -> list[int]:
    """Seeds the train or infer stage marked failed, plus configured seeds that have no predictions."""
    failed = record.failed_seeds()
    spec = record.config.get("seeds")
    if spec is not None:
        failed.update(set(parse_seeds(str(spec))) - set(predicted))
    return sorted(failed)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """A DataFrame as zstd-compressed Parquet bytes."""
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf, compression="zstd")
    return buf.getvalue()


def picture_inputs(images: dict | None, samples: pd.DataFrame) -> tuple[dict, np.ndarray | None]:
    """The first PICTURE_COUNT images for the article's pictures (test ones: with an ensemble prediction)."""
    images = {k: v[:PICTURE_COUNT] if k.startswith("train") else v for k, v in (images or {}).items()}
    if "test_images" not in images or "test_labels" not in images:
        return images, None
    ensemble = samples.set_index("sample_id")["ensemble"]
    # sample_id is the image's index in the test split, as the infer stage numbers them
    ids = [i for i in range(min(PICTURE_COUNT, len(images["test_images"]))) if i in ensemble.index]
    images["test_images"] = np.asarray(images["test_images"])[ids]
    images["test_labels"] = np.asarray(images["test_labels"])[ids]
    return images, ensemble.loc[ids].to_numpy()


def table_files(result: RunStatistics, run_id: str) -> dict[str, bytes]:
    """The tables beside the report: per seed (Parquet, and CSV worst first), per class, every pair."""
    worst_first = result.per_seed.sort_values(["test_accuracy", "seed"], kind="stable")
    pairs = disagreement.pairs_frame(result.disagreement_matrix, result.summary.seeds)
    return {
        "summary.parquet": parquet_bytes(result.per_seed),
        "per_class.parquet": parquet_bytes(result.per_class_by_seed.assign(run_id=run_id)),
        "per_seed.csv": worst_first.to_csv(index=False, float_format="%.6g").encode(),
        "disagreement.parquet": parquet_bytes(pairs.assign(run_id=run_id)),
    }


def write_outputs(run: RunRef, tables: dict[str, bytes], drawn: dict, summary: RunSummary) -> None:
    """Figures, tables and reports first; summary.json last, so its presence means the rest is there."""
    folder, options = run.summary_dir, run.options
    for name, figure in drawn.items():
        storage.write_bytes_atomic(storage.join(folder, name), figure.png, options)
    for name in sorted(set(figures.FIGURE_FILES) - set(drawn)):  # e.g. an earlier summary drew the pictures
        stale = storage.join(folder, name)
        if storage.exists(stale, options):
            storage.remove(stale, options)
    for name, data in tables.items():
        storage.write_bytes_atomic(storage.join(folder, name), data, options)
    storage.write_bytes_atomic(summary.report_md, render_markdown(summary, drawn).encode(), options)
    storage.write_bytes_atomic(summary.report_html, render_html(summary, drawn).encode(), options)
    storage.write_json_atomic(run.summary_json, summary.to_json(), options)


def failed_attempts(run: RunRef, failed: tuple[int, ...]) -> dict[int, tuple[Attempt, ...]]:
    """attempts.json of the seeds that left no predictions (the others' attempts are in metrics.json)."""
    return {seed: read_attempts(run, seed) for seed in failed}


def _statistics(run: RunRef, record: RunRecord) -> tuple[RunStatistics, dict[int, SeedMetrics | None]]:
    """The run's statistics from its committed predictions, and each predicted seed's metrics."""
    table = read_predictions(run.layout, run.run_id, columns=list(PREDICTION_COLUMNS))
    if table.num_rows == 0:
        raise DataError(
            f"run {run.run_id}: no predictions under {run.layout.predictions_root()}; run infer first"
        )
    seeds = sorted(int(s) for s in pc.unique(table.column("seed")).to_pylist())
    metrics = read_metrics(run, seeds)
    return compute_statistics(table, metrics, run.run_id, failed_seeds(record, seeds)), metrics


def summarize_run(
    run: RunRef,
    *,
    baseline: str = PREVIOUS,
    rule: GateRule | None = None,
    images: dict | None = None,
    load_images: Callable[[], dict | None] | None = None,
    force: bool = False,
) -> RunSummary:
    """Summarise one run into runs/<id>/summary/; raises RegressionDetected (exit 4) after writing.

    With nothing new since the run's last summary (summary/reuse.py) that summary is reused and nothing is
    written, unless `force`; `load_images` is called only when a summary is made (for its pictures).
    """
    clock = StageClock.start()
    rule = rule or GateRule()
    base = load_baseline(run, baseline)  # a bad baseline fails before any work
    record = run_record.read_run(run)
    digest = reuse.inputs_digest(run, record, base, rule)
    previous = None if force else reuse.previous_summary(run, digest)
    if previous is not None and (reuse.has_pictures(previous) or (images is None and load_images is None)):
        return finish_reused(run, previous)
    if images is None and load_images is not None:
        images = load_images()
        if previous is not None and images is None:  # the pictures cannot be drawn now either
            return finish_reused(run, previous)
    summary, files = _summary_files(run, record, base, rule, images, clock)
    summary = replace(summary, inputs_digest=digest)
    write_outputs(run, *files, summary)
    return finish(run, summary, clock)


def _summary_files(
    run: RunRef, record: RunRecord, base: Baseline, rule: GateRule, images: dict | None, clock: StageClock
) -> tuple[RunSummary, tuple[dict, dict]]:
    """The summary with its comparison and metadata, and its (tables, figures) to write."""
    result, metrics = _statistics(run, record)
    summary = result.summary
    writing = StageTime("summary", "writing this report", clock.started_at, None, clock.seconds())
    summary = replace(
        summary,
        run_metadata=run_metadata(
            record, summary.per_seed, metrics, failed_attempts(run, summary.failed_seeds), writing
        ),
        scored=scored_input(run, summary),
    )
    summary = replace(summary, comparison=gate.compare(summary, base.summary, rule, why_none=base.reason))
    pictures, test_predictions = picture_inputs(images, result.samples)
    drawn = figures.draw_run_figures(summary, metrics, result.disagreement_matrix, pictures, test_predictions)
    tables = table_files(result, run.run_id)
    summary = replace(
        summary,
        report_html=storage.join(run.summary_dir, "report.html"),
        report_md=storage.join(run.summary_dir, "report.md"),
        files=tuple(sorted([*drawn, *tables, "summary.json", "report.md", "report.html"])),
        generated_at=now_utc(),
    )
    return summary, (tables, drawn)


def scored_input(run: RunRef, summary: RunSummary) -> ScoredInput:
    """What the seeds' predictions were scored on, from their partitions' markers; a DataError when the
    seeds were scored on different test splits (rescore them with `infer --force`)."""
    markers = {seed: read_marker(run, seed) for seed in summary.seeds}
    digests = {m.input_sha256 for m in markers.values() if m is not None and m.input_sha256}
    if len(digests) > 1:
        by_digest = {d: [s for s, m in markers.items() if m and m.input_sha256 == d] for d in sorted(digests)}
        listed = "; ".join(f"seeds {seeds} on {d}" for d, seeds in by_digest.items())
        raise DataError(
            f"run {run.run_id}: its seeds were scored on different test splits ({listed}); rescore them "
            f"with `lenet-batch infer --run {run.run_id} --force` before summarising. Nothing was written"
        )
    sources = {m.data_source for m in markers.values() if m is not None and m.data_source}
    return ScoredInput(
        name=TEST_SPLIT,
        source=sources.pop() if len(sources) == 1 else None,
        digest=digests.pop() if digests else None,
        n_images=max((r.n_samples for r in summary.per_seed), default=0),
    )


def finish_reused(run: RunRef, summary: RunSummary) -> RunSummary:
    """A summary with nothing new: nothing written (run.json only when it lost the stage), same verdict."""
    log.info(
        "run %s: nothing new since its summary of %s: reusing %s",
        run.run_id,
        summary.generated_at,
        summary.report_html,
    )
    cmp = summary.comparison
    record = run_record.read_run(run)
    if record.stage_status("summary") != ("regressed" if cmp and cmp.regressed else "complete"):
        _record_stage(run, summary, None)
    if cmp is not None and cmp.regressed:
        raise RegressionDetected(
            f"run {run.run_id}: {cmp.line()} (report: {summary.report_html})", document=summary
        )
    return summary


def _record_stage(run: RunRef, summary: RunSummary, clock: StageClock | None) -> None:
    """The summary stage in run.json: status, verdict, baseline, report."""
    cmp, acc = summary.comparison, summary.across_seeds
    seed_rows = [SeedEntry(r.seed, attempts=r.attempts, hosts=r.hosts) for r in summary.per_seed]
    run_record.update_stage(
        run,
        "summary",
        seed_rows,
        status="regressed" if cmp.regressed else "complete",
        clock=clock,
        mean_accuracy=acc.mean,
        ensemble_accuracy=summary.ensemble.accuracy,
        baseline_run_id=cmp.baseline_run_id,
        regressed=cmp.regressed,
        verdict=cmp.outcome(),
        report_html=summary.report_html,
    )


def finish(run: RunRef, summary: RunSummary, clock: StageClock) -> RunSummary:
    """Record the stage in run.json, log the result, and fail the job on a regression."""
    cmp, acc = summary.comparison, summary.across_seeds
    _record_stage(run, summary, clock)
    std = "undefined" if acc.std is None else f"{acc.std:.4f}"
    log.info(
        "run %s: %d seeds, mean test accuracy %.4f (std %s), ensemble %.4f; report %s",
        *(run.run_id, summary.n_seeds, acc.mean, std, summary.ensemble.accuracy, summary.report_html),
    )
    if cmp.regressed:
        raise RegressionDetected(
            f"run {run.run_id}: {cmp.line()} (report: {summary.report_html})", document=summary
        )
    return summary
