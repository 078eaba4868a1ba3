"""The summary stage: a run's predictions and its state's records in; its summary, report and the gate's
verdict out (the run's owner records it in run.json)."""

import io
import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lenet_batch.config import GateRule
from lenet_batch.data.inputs import TEST_SPLIT
from lenet_batch.errors import DataError
from lenet_batch.provenance import now_utc
from lenet_batch.scoring.committed import Partition, read_predictions
from lenet_batch.state.run_state import RunState
from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef
from lenet_batch.store.run_record import RunRecord, SeedEntry, StageClock, StageEntry
from lenet_batch.store.seed_records import SeedMetrics
from lenet_batch.store.storage import join
from lenet_batch.summary import disagreement, figures, gate
from lenet_batch.summary.baseline import Baseline
from lenet_batch.summary.prediction_frame import PREDICTION_COLUMNS
from lenet_batch.summary.report_render import render_html, render_markdown
from lenet_batch.summary.run_metadata import run_metadata
from lenet_batch.summary.statistics import RunStatistics, compute_statistics
from lenet_batch.summary.types import RunSummary, ScoredInput, StageTime

log = logging.getLogger(__name__)

PICTURE_COUNT = 18  # images in each of the seed article's two pictures
TABLES = ("summary.parquet", "per_class.parquet", "per_seed.csv", "disagreement.parquet")


def seed_metrics(state: RunState, seeds: list[int]) -> dict[int, SeedMetrics | None]:
    """Each predicted seed's metrics.json as the state holds it (None, with a warning, where it has none)."""
    metrics = {seed: state.seed(seed).metrics for seed in seeds}
    for seed, m in metrics.items():
        if m is None:
            log.warning(
                "seed %d: no %s; its training numbers are left empty", seed, state.run.metrics_json(seed)
            )
    return metrics


def failed_seeds(record: RunRecord, predicted: list[int]) -> list[int]:
    """Seeds the train or infer stage marked failed, plus the run's seeds that have no predictions."""
    return sorted(record.failed_seeds() | (set(record.seeds or ()) - set(predicted)))


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


def _statistics(state: RunState) -> tuple[RunStatistics, dict[int, SeedMetrics | None]]:
    """The run's statistics from its committed predictions, and each predicted seed's metrics."""
    run = state.run
    marked = sorted((seed, s.marker) for seed, s in (state.seeds or {}).items() if s.marker is not None)
    parts = [Partition(run.run_id, seed, join(run.partition_dir(seed), m.file)) for seed, m in marked]
    table = read_predictions(run.layout, run.run_id, columns=list(PREDICTION_COLUMNS), parts=parts or None)
    if table.num_rows == 0:
        raise DataError(
            f"run {run.run_id}: no predictions under {run.layout.predictions_root()}; run infer first"
        )
    seeds = sorted(int(s) for s in pc.unique(table.column("seed")).to_pylist())
    metrics = seed_metrics(state, seeds)
    record = state.record or RunRecord(run.run_id)
    return compute_statistics(table, metrics, run.run_id, failed_seeds(record, seeds)), metrics


def summarize_run(
    state: RunState,
    base: Baseline,
    *,
    rule: GateRule | None = None,
    images: dict | None = None,
    inputs_digest: str = "",
) -> RunSummary:
    """Summarise one run into runs/<id>/summary/ (its tables, figures, reports, summary.json last) and
    return the summary; the caller records it and fails the job on a regression."""
    clock = StageClock.start()
    summary, files = _summary_files(state, base, rule or GateRule(), images, clock)
    summary = replace(summary, inputs_digest=inputs_digest)
    write_outputs(state.run, *files, summary)
    acc = summary.across_seeds
    std = "undefined" if acc.std is None else f"{acc.std:.4f}"
    log.info(
        "run %s: %d seeds, mean test accuracy %.4f (std %s), ensemble %.4f; report %s",
        *(state.run_id, summary.n_seeds, acc.mean, std, summary.ensemble.accuracy, summary.report_html),
    )
    return summary


def _summary_files(
    state: RunState, base: Baseline, rule: GateRule, images: dict | None, clock: StageClock
) -> tuple[RunSummary, tuple[dict, dict]]:
    """The summary with its comparison and metadata, and its (tables, figures) to write."""
    run, record = state.run, state.record or RunRecord(state.run_id)
    result, metrics = _statistics(state)
    summary = result.summary
    writing = StageTime("summary", "writing this report", clock.started_at, None, clock.seconds())
    attempts = {seed: state.seed(seed).attempts for seed in summary.failed_seeds}
    summary = replace(
        summary,
        run_metadata=run_metadata(record, summary.per_seed, metrics, attempts, writing),
        scored=scored_input(state, summary),
    )
    cmp = gate.compare(
        summary, base.summary, rule, why_none=base.reason, reference=base.reference, accepted=base.accepted
    )
    summary = replace(summary, comparison=cmp)
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


def scored_input(state: RunState, summary: RunSummary) -> ScoredInput:
    """What the seeds' predictions were scored on, from their partitions' markers; a DataError when the
    seeds were scored on different test splits (rescore them with `infer --force`)."""
    markers = {seed: state.seed(seed).marker for seed in summary.seeds}
    digests = {m.input_sha256 for m in markers.values() if m is not None and m.input_sha256}
    if len(digests) > 1:
        by_digest = {d: [s for s, m in markers.items() if m and m.input_sha256 == d] for d in sorted(digests)}
        listed = "; ".join(f"seeds {seeds} on {d}" for d, seeds in by_digest.items())
        raise DataError(
            f"run {state.run_id}: its seeds were scored on different test splits ({listed}); rescore them "
            f"with `lenet-batch infer --run {state.run_id} --force` before summarising. Nothing was written"
        )
    sources = {m.data_source for m in markers.values() if m is not None and m.data_source}
    return ScoredInput(
        name=TEST_SPLIT,
        source=sources.pop() if len(sources) == 1 else None,
        digest=digests.pop() if digests else None,
        n_images=max((r.n_samples for r in summary.per_seed), default=0),
    )


def stage_entry(summary: RunSummary, clock: StageClock | None) -> StageEntry:
    """The summary stage's entry in run.json: status, verdict, baseline, report."""
    cmp, acc = summary.comparison, summary.across_seeds
    rows = [SeedEntry(r.seed, attempts=r.attempts, hosts=r.hosts) for r in summary.per_seed]
    fields = dict(
        mean_accuracy=acc.mean,
        ensemble_accuracy=summary.ensemble.accuracy,
        baseline_run_id=cmp.baseline_run_id if cmp else None,
        regressed=cmp.regressed if cmp else False,
        verdict=cmp.outcome() if cmp else "n/a",
        report_html=summary.report_html,
    )
    said = cmp.outcome() if cmp is not None else "n/a"
    status = said if said in ("regressed", "inconclusive") else "complete"
    if clock is None:
        return StageEntry(status=status, finished_at=now_utc(), seeds=tuple(rows), **fields)
    return clock.entry(rows, status, **fields)
