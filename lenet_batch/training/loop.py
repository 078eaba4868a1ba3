"""One seed's training: uint8 arrays in, parameters and per-epoch metrics out (test accuracy: inference)."""

import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from lenet_batch.config import Recipe
from lenet_batch.data.classes import CHANCE_MARGIN, DIVERGED_ACCURACY
from lenet_batch.data.fashion_mnist import normalize
from lenet_batch.errors import SeedDiverged
from lenet_batch.store.seed_records import EpochMetrics
from lenet_batch.training import model
from lenet_batch.training.checkpoints import Checkpoint
from lenet_batch.training.inference import device_array, evaluate

log = logging.getLogger(__name__)
# Python queues at most this many training steps ahead of MXNet's engine (see train_epoch).
LOOKAHEAD_STEPS = 8


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and MXNet's random generators from one seed."""
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The shuffled sample order of one epoch: a function of (seed, epoch) only, so resuming replays it."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def pixel_table(recipe: Recipe, ctx: mx.Context) -> mx.nd.NDArray:
    """The normalised float32 value of each of the 256 uint8 pixel values, as `normalize` computes it.

    Looking pixels up in this table on the MXNet side gives bit-identical batches to normalising them in
    NumPy, without a float32 copy of every batch crossing from NumPy to MXNet.
    """
    values = normalize(np.arange(256, dtype=np.uint8).reshape(1, 16, 16), recipe.mean, recipe.std)
    return mx.nd.array(values.reshape(256), ctx=ctx)


def _normalised(pixels: mx.nd.NDArray, table: mx.nd.NDArray) -> mx.nd.NDArray:
    """uint8 (N, 28, 28) on the device -> normalised float32 (N, 1, 28, 28), on the device."""
    return mx.nd.take(table, pixels).reshape((-1, 1, *pixels.shape[1:]))


class TrainingObjective(gluon.HybridBlock):
    """The network, its softmax cross-entropy and the batch's correct count, hybridized as one graph.

    One cached-op call a step instead of the loss's and the metrics' separate imperative calls; the
    operators are the same, so the parameters are bit-identical to calling net and the loss apart.
    """

    def __init__(self, net: gluon.HybridBlock) -> None:
        super().__init__()
        self.net = net
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        self.hybridize(static_alloc=True, static_shape=True)

    def hybrid_forward(self, F, x, y):  # F: Gluon's operator namespace (mx.nd or mx.sym)
        out = self.net(x)
        loss = self.loss(out, y)
        return loss, F.sum(loss), F.sum(F.argmax(out, axis=1) == y)


def train_epoch(
    net,
    trainer,
    images: np.ndarray,
    labels: np.ndarray,
    order: np.ndarray,
    recipe: Recipe,
    ctx: mx.Context,
    objective: TrainingObjective | None = None,
) -> tuple[float, float]:
    """One pass over the shuffled training set; returns (mean loss, accuracy).

    `objective` is net's TrainingObjective when the caller keeps one across epochs (else one is built).
    """
    objective = objective or TrainingObjective(net)
    # Gather, cast and normalise each batch on the MXNet side: no per-step NumPy batch or host copy.
    pixels, table = device_array(images, ctx), pixel_table(recipe, ctx)
    targets = mx.nd.array(labels, ctx=ctx, dtype="float32")
    order_nd = mx.nd.array(order, ctx=ctx, dtype="int32")
    total_loss, total_correct = mx.nd.zeros(1, ctx=ctx), mx.nd.zeros(1, ctx=ctx)
    in_flight: deque = deque()
    for start in range(0, len(order), recipe.batch_size):
        batch = order_nd[start : start + recipe.batch_size]  # a view; the last batch may be partial
        x, y = _normalised(mx.nd.take(pixels, batch), table), mx.nd.take(targets, batch)
        with autograd.record():
            loss, batch_loss, batch_correct = objective(x, y)
        loss.backward()
        # Every gradient weighs 1/batch_size, the last partial batch's too, as the article's
        # trainer.step(batch_size) does (1/its own size cost 2 points: docs/reproducibility.md, "The recipe").
        trainer.step(recipe.batch_size)
        total_loss += batch_loss  # accumulated on the device: no host sync per batch
        total_correct += batch_correct
        # Python runs a few steps ahead of the engine, not a whole epoch (every step's batch and
        # activations would be held in memory at once).
        in_flight.append(loss)
        if len(in_flight) > LOOKAHEAD_STEPS:
            in_flight.popleft().wait_to_read()
    n = len(order)
    return float(total_loss.asscalar()) / n, float(total_correct.asscalar()) / n


def _restored(seed: int, ctx: mx.Context, resume: Checkpoint | None):
    """A fresh network seeded from `seed`, with the checkpoint's parameters and history when resuming."""
    seed_everything(seed)
    net = model.create_lenet(ctx, hybridize=False)
    if resume is None:
        return net, []
    model.params_from_bytes(net, resume.params, f"checkpoint of epoch {resume.epoch}", ctx)
    return net, list(resume.history)


def check_finite(net, seed: int, epoch: int, loss: float) -> None:
    """A NaN or infinite training loss or parameter fails the seed (SeedDiverged), once per epoch.

    The loss is already summed over the epoch (one NaN batch makes it NaN); the parameters are checked
    too, since a step can overflow them while the epoch's mean loss still reads finite.
    """
    bad = [] if math.isfinite(loss) else [f"training loss {loss}"]
    params = model.non_finite_parameters(net)
    if params:
        bad.append(f"parameters {', '.join(params)}")
    if bad:
        raise SeedDiverged(
            f"seed {seed} diverged at epoch {epoch} ({'; '.join(bad)} not finite); lower --lr, under a "
            "new --run-id (a run keeps one recipe)"
        )


def check_learned(seed: int, last: EpochMetrics) -> None:
    """A seed at or below chance plus 2 points after its last epoch did not learn: it counts as diverged
    (SeedDiverged), like a NaN loss. Checked before the last epoch is checkpointed, so a rerun says it again.
    """
    if last.test_accuracy <= DIVERGED_ACCURACY:
        raise SeedDiverged(
            f"seed {seed} diverged: test accuracy {last.test_accuracy:.4f} after its last epoch "
            f"({last.epoch}) is at or below chance + {CHANCE_MARGIN:g} ({DIVERGED_ACCURACY:g}), so it did "
            "not learn; lower --lr, or train longer or on more data, under a new --run-id (a run keeps one "
            "recipe)"
        )


def train_seed(
    arrays: dict[str, np.ndarray],
    recipe: Recipe,
    seed: int,
    ctx: mx.Context,
    resume: Checkpoint | None = None,
    on_epoch: Callable[[list[EpochMetrics], bytes], None] | None = None,
) -> tuple[bytes, list[EpochMetrics]]:
    """Train LeNet-5 for one seed; returns the final parameters (bytes) and per-epoch metrics.

    on_epoch(history, params) is called after every epoch (the checkpoint hook). With `resume`, training
    continues after resume.epoch from its parameters; on CPU the result equals an uninterrupted run.
    """
    net, history = _restored(seed, ctx, resume)
    net.hybridize(static_alloc=True, static_shape=True)
    # Plain SGD keeps no optimizer state, so parameters alone are a complete checkpoint.
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": recipe.lr})
    objective = TrainingObjective(net)
    images, labels = arrays["train_images"], arrays["train_labels"]
    for epoch in range(len(history) + 1, recipe.epochs + 1):
        started = time.perf_counter()
        order = epoch_order(seed, epoch, len(images))
        loss, accuracy = train_epoch(net, trainer, images, labels, order, recipe, ctx, objective)
        check_finite(net, seed, epoch, loss)  # before the epoch is evaluated or checkpointed
        seconds = time.perf_counter() - started
        test_accuracy = evaluate(net, arrays["test_images"], arrays["test_labels"], ctx, recipe)
        history.append(EpochMetrics(epoch, loss, accuracy, test_accuracy, round(seconds, 3)))
        log.info(
            "seed %d epoch %d/%d loss %.4f train acc %.4f test acc %.4f %.1fs",
            *(seed, epoch, recipe.epochs, loss, accuracy, test_accuracy, seconds),
        )
        if epoch == recipe.epochs:
            check_learned(seed, history[-1])
        if on_epoch is not None:
            on_epoch(history, model.params_to_bytes(net))
    check_learned(seed, history[-1])  # also a seed resumed from the checkpoint of its last epoch
    return model.params_to_bytes(net), history
