"""The stages as users run them (train, infer, summary, nightly): what the CLI and jobs/ both call."""

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


def data_info(dataset: data.FashionMNIST) -> dict[str, Any]:
    """Where the data came from and its digests, as recorded in run.json and metrics.json."""
    return {"source": dataset.source, "sha256": dataset.digests}


def train(settings: Settings, run_id: str, in_session: bool = False) -> list[dict[str, Any]]:
    """Train every seed on Ray (joining --address or a local Ray); raises SeedsFailed when any failed."""
    from lenet_batch.cluster.session import ray_session
    from lenet_batch.cluster.train_seeds import train_seeds

    layout = Layout(settings.output)
    dataset = load_dataset(settings)
    run_record.start(layout, run_id, settings, data_info(dataset), settings.storage_options)
    log.info("run %s: training seeds %s for %d epochs into %s", run_id, settings.seeds, settings.epochs,
             layout.run_dir(run_id))  # fmt: skip
    if in_session:
        rows = train_seeds(settings, dataset, run_id)
    else:
        with ray_session(settings.address):
            rows = train_seeds(settings, dataset, run_id)
    return rows


def raise_if_failed(rows: list[dict[str, Any]], stage: str) -> None:
    """Exit code 3 when some seeds failed (the others' outputs are kept)."""
    failed = [r["seed"] for r in rows if r.get("status") == "failed"]
    if failed:
        raise SeedsFailed(f"{stage}: {len(failed)} of {len(rows)} seeds failed: {failed}")
