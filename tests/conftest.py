"""Shared fixtures: thread caps, the real dataset, small IDX data sets, a local Ray cluster on loopback."""

import os

# Before MXNet is imported anywhere: one OpenMP thread, so in-process training is bit-reproducible.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_COLOR_PREFIX", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")

import pytest  # noqa: E402

from tests import helpers  # noqa: E402


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real Fashion-MNIST (installed by `make test` / .ci/run)."""
    from lenet_batch import data

    return data.load(allow_download=False)


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory, fashion_mnist):
    """A real-data subset (12,000 train / 2,000 test) written as IDX .gz files; load with verify=False."""
    folder = tmp_path_factory.mktemp("small-fashion-mnist")
    helpers.write_dataset(folder, fashion_mnist, n_train=12_000, n_test=2_000)
    return str(folder)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A Ray head on 127.0.0.1 (2 CPUs, 1 declared GPU, token auth) started and stopped by the tests."""
    cluster = helpers.RayCluster(num_cpus=2, num_gpus=1)
    cluster.start_head()
    try:
        yield cluster
    finally:
        cluster.stop()
