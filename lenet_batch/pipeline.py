"""The stages as users run them (train, infer, summary, nightly): what the CLI and jobs/ both call."""

import dataclasses
import logging
from typing import Any

from lenet_batch import data, run_record
from lenet_batch.config import Settings
from lenet_batch.errors import SeedsFailed
from lenet_batch.storage import Layout

log = logging.getLogger(__name__)


def load_dataset(settings: Settings) -> data.FashionMNIST:
    """Fashion-MNIST from --data / $LENET_BATCH_DATA / the system package / the download cache."""
    return data.load(settings.data or None, settings.storage_options, verify=settings.verify_data)


def train(settings: Settings, run_id: str, dataset: data.FashionMNIST | None = None) -> list[dict[str, Any]]:
    """Train every seed on Ray (joining --address, the session already open, or a local Ray); row per seed."""
    from lenet_batch.cluster.session import ray_session
    from lenet_batch.cluster.train_seeds import train_seeds

    layout = Layout(settings.output)
    dataset = dataset or load_dataset(settings)
    run_record.start(layout, run_id, settings, dataset.info(), settings.storage_options)
    log.info(
        "run %s: training seeds %s for %d epochs into %s",
        run_id,
        settings.seeds,
        settings.epochs,
        layout.run_dir(run_id),
    )
    with ray_session(settings.address):
        return train_seeds(settings, dataset, run_id)


def raise_if_failed(rows: list[dict[str, Any]], stage: str) -> None:
    """Exit code 3 when some seeds failed (the others' outputs are kept)."""
    failed = [r["seed"] for r in rows if r.get("status") == "failed"]
    if failed:
        raise SeedsFailed(f"{stage}: {len(failed)} of {len(rows)} seeds failed: {failed}")


def infer(settings: Settings, run_id: str, dataset: data.FashionMNIST | None = None) -> list[dict[str, Any]]:
    """Score the input with every trained seed's model on Ray, writing committed Parquet partitions."""
    from lenet_batch.cluster.infer_seeds import infer_seeds
    from lenet_batch.cluster.session import ray_session

    seeds = settings.seed_list() if settings.seeds != Settings.seeds else None
    with ray_session(settings.address):
        return infer_seeds(settings, run_id, seeds, dataset)


def summarize(settings: Settings, run_id: str, dataset: data.FashionMNIST | None = None) -> dict[str, Any]:
    """Tables, plots, report and the regression gate for one run (raises RegressionDetected: exit 4)."""
    from lenet_batch.summary_stage import summarize_run

    images = dataset.arrays() if dataset is not None else None
    result = summarize_run(
        settings.output,
        run_id,
        settings.storage_options,
        baseline=settings.baseline,
        max_drop=settings.max_drop,
        images=images,
    )
    log.info("%s", comparison_line(result))
    return result


def headline(run_id: str, result: dict[str, Any]) -> str:
    """One line a person reads first: seeds, mean accuracy with its CI, ensemble accuracy."""
    across = result.get("across_seeds", {})
    ci = across.get("ci95")
    ci_text = f" (95% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci else ""
    ensemble = result.get("ensemble", {}).get("accuracy")
    ensemble_text = f", ensemble {ensemble:.4f}" if ensemble is not None else ""
    return (
        f"run {run_id}: {across.get('n_seeds', '?')} seeds, "
        f"mean test accuracy {across.get('mean', float('nan')):.4f}"
        f"{ci_text}{ensemble_text}"
    )


def comparison_line(result: dict[str, Any]) -> str:
    """The gate's verdict and the deltas against the baseline run, in one line."""
    cmp = result.get("comparison") or {}
    if not cmp.get("baseline_run_id"):
        return "baseline: none (no earlier completed run to compare with)"
    mean, ens = cmp["mean_accuracy"], cmp["ensemble_accuracy"]

    def delta(d: dict) -> str:
        return "?" if d.get("delta") is None else f"{d['delta']:+.4f}"

    verdict = "REGRESSED: " + "; ".join(cmp.get("reasons", [])) if cmp.get("regressed") else "passed"
    return (
        f"baseline {cmp['baseline_run_id']}: mean accuracy {delta(mean)}, ensemble {delta(ens)} "
        f"(max drop {cmp['max_drop']}): {verdict}"
    )


def nightly(settings: Settings) -> dict[str, Any]:
    """Train → infer → summary for one run id under the output's lock; resumable, refuses a second runner."""
    from lenet_batch import lock, storage
    from lenet_batch.cluster.session import ray_session
    from lenet_batch.seed_run import now_utc

    if not settings.baseline:
        settings = dataclasses.replace(settings, baseline="previous")
    run_id, options = settings.resolved_run_id(), settings.storage_options
    layout = Layout(settings.output)
    with lock.run_lock(layout, run_id, options, settings.stale_lock_seconds):
        dataset = load_dataset(settings)
        # One Ray session for both stages: the stages' own ray_session calls join it.
        with ray_session(settings.address):
            raise_if_failed(train(settings, run_id, dataset), "train")
            raise_if_failed(infer(settings, run_id, dataset), "infer")
        result = summarize(settings, run_id, dataset=dataset)
        storage.write_json_atomic(
            layout.heartbeat(),
            {"run_id": run_id, "finished_at": now_utc(), "headline": headline(run_id, result)},
            options,
        )
    return {"headline": headline(run_id, result), "report_html": result.get("report_html"), "summary": result}
