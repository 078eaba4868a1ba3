"""Nights holding every file a night leaves behind, for the prune tests: the synthetic nights' records
(tests/history_helpers.py) plus committed predictions of the test split and of a named input, a staged
scoring, each seed's model, metrics and attempts (a checkpoint for a seed that did not finish) and a log."""

import json

from lenet_batch.scoring.partitions import write_partition
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from tests.history_helpers import _predictions, write_synthetic_runs
from tests.synthetic_runs import metrics_json

SEEDS = 2
KEPT = ("run.json", "summary/summary.json", "summary/report.html", "metrics.json", "attempts.json")


def seeds_of(night: int) -> list[int]:
    """The seeds of night k as tests/history_helpers.py numbers them."""
    return list(range(night * SEEDS, (night + 1) * SEEDS))


def _files(layout: Layout, rid: str, seed: int, finished: bool) -> None:
    """One seed's files: its predictions (test split and a named input), model or checkpoint, records."""
    run = layout.run(rid)
    table = _predictions(0.88, 40, sha=f"{seed:064d}")
    write_partition(run, seed, table.to_batches(), table["model_sha256"][0].as_py())
    write_partition(run, seed, table.to_batches(), f"{seed:064d}", input_name="extra")
    if finished:
        storage.write_bytes_atomic(run.model_params(seed), b"\x01" * 4096, layout.options)
        storage.write_json_atomic(run.metrics_json(seed), metrics_json(rid, seed, 2), layout.options)
    else:
        checkpoint = storage.join(run.checkpoint_dir(seed), "epoch-0001.params")
        storage.write_bytes_atomic(checkpoint, b"\x02" * 2048, layout.options)
        pointer, latest = {"epoch": 1, "params": "epoch-0001.params"}, "latest.json"
        storage.write_json_atomic(storage.join(run.checkpoint_dir(seed), latest), pointer, layout.options)
    storage.write_json_atomic(run.attempts_json(seed), [], layout.options)


def full_nights(output: str, n_runs: int, kinds: dict[int, str] | None = None) -> list[str]:
    """n_runs nights (kinds: night -> ok/regressed/failed/incomplete) with every file; their run ids."""
    ids = write_synthetic_runs(output, n_runs, SEEDS, kinds)
    layout = Layout(output)
    for night, rid in enumerate(ids):
        failed = (kinds or {}).get(night) == "failed"
        for i, seed in enumerate(seeds_of(night)):
            _files(layout, rid, seed, finished=not (failed and i == 0))
        run = layout.run(rid)
        log = f"{rid}T02:00:00Z INFO nightly started\n".encode() * 20
        storage.write_bytes_atomic(storage.join(run.logs_dir, "nightly.log"), log, layout.options)
        staged = storage.join(layout.staging_dir(), rid, "seed=0.host.1.parquet.tmp")
        storage.write_bytes_atomic(staged, b"\x03" * 100, layout.options)
    return ids


def run_json(output: str, rid: str) -> dict:
    """A night's run.json as written."""
    return json.loads(storage.read_bytes(Layout(output).run(rid).run_json))


def files_of(output: str) -> dict[str, int]:
    """Every file under the output (relative path -> size)."""
    fs, root = storage.get_fs(output)
    fs.invalidate_cache()
    found = fs.find(root, detail=True)
    return {p[len(root.rstrip("/")) + 1 :]: int(info["size"]) for p, info in found.items()}


def night_files(files: dict[str, int], rid: str) -> set[str]:
    """The files of one night among `files` (records, predictions, scored inputs, staging, logs)."""
    marks = (f"runs/{rid}/", f"run_id={rid}/", f"_staging/{rid}/")
    return {f for f in files if any(m in f for m in marks)}


def kept_only(files: set[str]) -> bool:
    """True when nothing but the records a pruned night keeps is left of it."""
    return all(f.endswith(KEPT) for f in files) and any(f.endswith("run.json") for f in files)
