"""Helpers of the sealed-run tests: the state of an output tree, a seed whose new model cannot score."""

import contextlib
import hashlib
import io
from pathlib import Path

from lenet_batch.store import storage
from lenet_batch.store.layout import RunRef


def tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under folder with its size and mtime (ns): any file written, even with the same bytes,
    or added, or removed, changes it."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def poison_model(output: str, run_id: str, seed: int) -> None:
    """Replace a finished seed's model with one whose output bias is NaN, its digest recorded as trained so:
    a model the seed now has (so not scored yet) that fails to score."""
    import mxnet as mx

    from lenet_batch.training import model

    run = RunRef(output, run_id)
    net = model.create_lenet(mx.cpu())
    net[-1].bias.set_data(mx.nd.full(net[-1].bias.shape, float("nan")))
    params = model.params_to_bytes(net)
    storage.write_bytes_atomic(run.model_params(seed), params)
    metrics = storage.read_json(run.metrics_json(seed))
    storage.write_json_atomic(
        run.metrics_json(seed), {**metrics, "model_sha256": hashlib.sha256(params).hexdigest()}
    )


def train_in_process(argv: list[str]) -> None:
    """`lenet-batch train ARGV` as the train stage does it, each seed by run_seed (what a Ray task runs) in
    this process: run.json recorded, the seeds trained, the stage recorded."""
    from lenet_batch import config
    from lenet_batch.cli import settings_from_args
    from lenet_batch.cli.parser import build_parser
    from lenet_batch.pipeline import stages
    from lenet_batch.pipeline.owner import RunOwner
    from lenet_batch.pipeline.requests import TrainRequest
    from lenet_batch.state.run_state import read_state
    from lenet_batch.store.run_record import StageClock
    from lenet_batch.training.seed import run_seed

    settings = settings_from_args(build_parser().parse_args(["train", *argv]))
    assert isinstance(settings, config.Settings)
    run, request = settings.run_ref(), TrainRequest.of(settings)
    dataset = stages.load_dataset(request.data, run.options)
    info = stages.data_info(dataset, request.data.verify)
    owner, clock = RunOwner(read_state(run)), StageClock.start()
    owner.start(config=request.recorded_settings, recipe=request.recipe, seeds=request.seeds, data=info)
    results = [
        run_seed(dataset.arrays(), data_info=info, recipe=request.recipe, seed=seed, run=run)
        for seed in request.seeds
    ]
    owner.trained(results)
    owner.stage_done("train", clock.entry([r.entry() for r in results]))


def nightly_in_process(argv: list[str]) -> tuple[int, str, str]:
    """`lenet-batch nightly ARGV -q` through the CLI in this process: (exit code, stdout, stderr)."""
    from lenet_batch import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["nightly", *argv, "-q"])
    return code, out.getvalue(), err.getvalue()
