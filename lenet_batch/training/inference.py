"""LeNet-5's forward passes over uint8 images: logits in bounded batches, and accuracy.

Training (its per-epoch test accuracy) and scoring (the predictions) both import this module; neither
imports the other, and nothing here knows a Trainer, autograd or a checkpoint.
"""

import mxnet as mx
import numpy as np

from lenet_batch.config import INFER_BATCH_SIZE, Recipe
from lenet_batch.data.classes import NUM_CLASSES
from lenet_batch.data.fashion_mnist import normalize

# Images per forward pass when predicting: 512 ran 3-4% faster per CPU-second than 256, 1,024 2%, 2,048 and
# MKLDNN fusion slower (`make bench`, "forward pass"; shared 2-core AMD EPYC). Logits differ from batch 256 by
# at most ~1e-6; the predictions on the test split not at all.
INFER_BATCH = 512
# At most this many images' forward passes are queued ahead of MXNet's engine: as many as a scoring batch
# holds at the default --infer-batch-size, so that the next batch's passes run while this batch's rows are
# built and written (a larger --infer-batch-size still queues only this many at a time).
LOOKAHEAD_IMAGES = INFER_BATCH_SIZE
DEFAULT_RECIPE = Recipe()


def device_array(array: np.ndarray, ctx: mx.Context) -> mx.nd.NDArray:
    """An NDArray of a NumPy array: zero-copy on CPU (e.g. read straight from Ray's object store)."""
    array = np.ascontiguousarray(array)
    if ctx.device_type != "cpu" or array.size == 0:
        return mx.nd.array(array, ctx=ctx, dtype=array.dtype)
    # A view, so that from_numpy marking it read-only leaves the caller's array as it was.
    return mx.nd.from_numpy(array.view(), zero_copy=True)


def launch_logits(
    net, images: np.ndarray, ctx: mx.Context, recipe: Recipe = DEFAULT_RECIPE, batch_size: int = INFER_BATCH
) -> list[mx.nd.NDArray]:
    """Queue the forward passes of uint8 images in MXNet's engine; returns their (pending) logits.

    Each chunk is normalised in NumPy on this thread while the engine runs the previous chunk's forward
    pass (bit-identical to the training loop's pixel table; 3-4x cheaper than looking pixels up with
    MXNet's take).
    """
    outs = []
    for start in range(0, len(images), batch_size):
        x = normalize(images[start : start + batch_size], recipe.mean, recipe.std)
        outs.append(net(device_array(x, ctx)))
        ahead = max(1, LOOKAHEAD_IMAGES // batch_size)
        if len(outs) > ahead:  # bound the chunks (and their inputs) queued ahead of the engine
            outs[-ahead - 1].wait_to_read()
    return outs


def gather_logits(outs: list[mx.nd.NDArray]) -> np.ndarray:
    """The logits (N, 10) float32 of launched forward passes (waits for them)."""
    if not outs:
        return np.zeros((0, NUM_CLASSES), np.float32)
    return np.concatenate([out.asnumpy() for out in outs])


def predict_logits(
    net, images: np.ndarray, ctx: mx.Context, recipe: Recipe = DEFAULT_RECIPE, batch_size: int = INFER_BATCH
) -> np.ndarray:
    """Logits (N, 10) float32 for uint8 images, in batches."""
    return gather_logits(launch_logits(net, images, ctx, recipe, batch_size))


def evaluate(
    net, images: np.ndarray, labels: np.ndarray, ctx: mx.Context, recipe: Recipe = DEFAULT_RECIPE
) -> float:
    """Accuracy of net on (images, labels)."""
    predictions = predict_logits(net, images, ctx, recipe).argmax(axis=1)
    return float((predictions == labels).mean())
