"""Shared fixtures: thread caps, the real dataset, small IDX data sets, a local Ray cluster on loopback."""

import os
import secrets
import tempfile
from pathlib import Path

import pytest

from tests import helpers

# Before MXNet is imported anywhere: one OpenMP thread, so in-process training is bit-reproducible.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_COLOR_PREFIX", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")


def _test_token() -> None:
    """A Ray auth token of the tests' own (never the user's ~/.ray/auth_token), for clusters and clients."""
    if os.environ.get("RAY_AUTH_TOKEN_PATH") or os.environ.get("RAY_AUTH_TOKEN"):
        return
    path = Path(tempfile.mkdtemp(prefix="lbtoken-")) / "home" / ".ray" / "auth_token"
    path.parent.mkdir(parents=True)
    path.write_text(secrets.token_hex(32))
    path.chmod(0o600)
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(path)


_test_token()
pytest_plugins = ["tests.s3_server", "tests.hygiene"]
# Gone for the whole session, so that session- and module-scoped fixtures (built before `hermetic` runs)
# do not see them either.
for _name in [k for k in os.environ if helpers.isolated(k)]:
    del os.environ[_name]


@pytest.fixture(scope="session", autouse=True)
def session_cwd(tmp_path_factory):
    """Session- and module-scoped fixtures run in an empty folder too, never in the checkout."""
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(before)


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """Each test runs in its own empty working directory, without the variables of helpers.isolated
    (a fixture or an earlier test may have set one since the session started), and leaves the environment
    as it found it: what code under test set in os.environ (a local Ray's settings, say) is gone after."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if helpers.isolated(k)]:
        monkeypatch.delenv(name)
    before = dict(os.environ)
    yield
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real Fashion-MNIST (installed by `make test` / .ci/run)."""
    from lenet_batch.data import fashion_mnist

    return fashion_mnist.load(allow_download=False)


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


@pytest.fixture(scope="session")
def cluster():
    """Head (1 CPU) plus a second node (1 CPU), both on 127.0.0.1, token auth on: for Ray Jobs tests."""
    c = helpers.RayCluster(num_cpus=1)
    try:
        c.start_head()
        c.add_worker(num_cpus=1)
        yield c
    finally:
        c.stop()


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, the tests marked slow (Ray clusters, real nightlies) run one after another on
    one worker: two clusters on a 2-core machine would starve each other; the other tests share the rest."""
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("slow"))
