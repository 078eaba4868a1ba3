"""The seed article's recipe, run the way the article runs it: the baseline of `make bench`.

A per-sample `transform_first(ToTensor, Normalize)` over a Gluon dataset of the uint8 images, a shuffling
`DataLoader` with four worker processes, a non-hybridized `nn.Sequential` LeNet-5, Xavier, SGD at lr 0.1,
softmax cross-entropy, batch 256, and per batch a loss and an accuracy read back to the host (the article's
`loss.mean().asscalar()` and `acc(output, label)`). Only the data source differs: our verified arrays
instead of `gluon.data.vision.FashionMNIST`, which downloads the same files.
"""

import multiprocessing
import random
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, init
from mxnet.gluon import nn
from mxnet.gluon.data.vision import transforms

from lenet_batch.training.model import build_lenet
from tests.benchmarks.procs import process_cpu_seconds

BATCH_SIZE = 256
LR = 0.1
MEAN, STD = 0.13, 0.31
NUM_WORKERS = 4


def build_net() -> nn.Sequential:
    """LeNet-5 as the article writes it: a plain (imperative) Sequential."""
    return build_lenet(nn.Sequential)


def loader(images: np.ndarray, labels: np.ndarray, shuffle: bool, num_workers: int) -> gluon.data.DataLoader:
    """The article's input pipeline over (N, 28, 28) uint8 images: HWC NDArrays, per-sample transform."""
    transformer = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    dataset = gluon.data.ArrayDataset(mx.nd.array(images[..., None], dtype=np.uint8), labels.astype(np.int32))
    return gluon.data.DataLoader(
        dataset.transform_first(transformer), batch_size=BATCH_SIZE, shuffle=shuffle, num_workers=num_workers
    )


def accuracy_count(output: mx.nd.NDArray, label: mx.nd.NDArray) -> float:
    """Correct predictions in a batch, read back per batch as the article's `acc` does."""
    return (output.argmax(axis=1) == label.astype("float32")).sum().asscalar()


def train_epoch(net, trainer, data: gluon.data.DataLoader) -> tuple[float, float, int]:
    """The article's inner loop; returns (summed loss, correct count, samples)."""
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    total_loss, correct, seen = 0.0, 0.0, 0
    for x, y in data:
        with autograd.record():
            output = net(x)
            loss = loss_fn(output, y)
        loss.backward()
        trainer.step(BATCH_SIZE)  # as the article: the fixed batch size, also for the last, partial batch
        total_loss += loss.sum().asscalar()
        correct += accuracy_count(output, y)
        seen += len(y)
    return total_loss, correct, seen


def evaluate(net, data: gluon.data.DataLoader) -> float:
    """Test accuracy (exact: correct / samples, where the article averages per-batch accuracies)."""
    correct, seen = 0.0, 0
    for x, y in data:
        correct += accuracy_count(net(x), y)
        seen += len(y)
    return correct / seen


def train(arrays: dict[str, np.ndarray], epochs: int, seed: int, num_workers: int = NUM_WORKERS) -> dict:
    """Train one seed with the article's recipe; per-epoch loop seconds, accuracies and wall time."""
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)
    started, cpu = time.perf_counter(), time.process_time()
    train_data = loader(arrays["train_images"], arrays["train_labels"], True, num_workers)
    valid_data = loader(arrays["test_images"], arrays["test_labels"], False, num_workers)
    net = build_net()
    net.initialize(init=init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR})
    epochs_out = []
    for epoch in range(1, epochs + 1):
        tic = time.perf_counter()
        loss, correct, seen = train_epoch(net, trainer, train_data)
        loop_seconds = time.perf_counter() - tic
        test_accuracy = evaluate(net, valid_data)
        epochs_out.append(
            {
                "epoch": epoch,
                "train_loss": loss / seen,
                "train_accuracy": correct / seen,
                "test_accuracy": test_accuracy,
                "seconds": loop_seconds,
                "seconds_with_eval": time.perf_counter() - tic,
            }
        )
    # CPU of this process and of the DataLoaders' worker processes (alive until the loaders are collected).
    workers_cpu = sum(process_cpu_seconds(p.pid) for p in multiprocessing.active_children())
    return {
        "seed": seed,
        "cpu_seconds": time.process_time() - cpu + workers_cpu,
        "samples": len(arrays["train_images"]) * epochs,
        "loop_seconds": sum(e["seconds"] for e in epochs_out),
        "wall_seconds": time.perf_counter() - started,
        "test_accuracy": epochs_out[-1]["test_accuracy"],
        "epochs": epochs_out,
    }
