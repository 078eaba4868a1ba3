"""Check before any side effect: every value's syntax and type, GPUs that are not there, data that fails
while Ray starts, seeds with no model: each exits 2 with one line, before Ray starts (or as soon as it can
stop) and before anything is written. A cluster that does not answer, whatever the address's form, exits 9
with one line within --ray-connect-timeout + 5 s, and never prints a credential."""

import contextlib
import http.server
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lenet_batch import cli, config
from lenet_batch.cluster import connect, preflight
from lenet_batch.errors import ClusterUnavailable, ConfigError
from tests import helpers
from tests.fault_helpers import assert_one_line_error, closed_port, silent_endpoint
from tests.prediction_helpers import fashion, install_run
from tests.test_signals import TAG, assert_gone


@pytest.mark.parametrize(
    "address", ["garbage:::", "head", "head:", "head:99999", ":6379", "a b:1", "ray://", "10.0.0.1:6379/x"]
)
def test_a_malformed_address_is_a_config_error(address):
    with pytest.raises(ConfigError, match="not a Ray address; use HOST:PORT"):
        config.resolve({"address": address}, env={})


@pytest.mark.parametrize(
    "address", ["auto", "10.0.0.5:6379", "head-node.internal:6379", "[::1]:6379", "ray://h:10001"]
)
def test_well_formed_addresses_are_accepted(address):
    assert config.resolve({"address": address}, env={}).cluster().address == address


def test_a_malformed_ray_address_from_the_environment_is_refused_too():
    with pytest.raises(ConfigError, match="--address garbage:::: not a Ray address"):
        config.resolve({}, env={"RAY_ADDRESS": "garbage:::"})


def test_environment_variables_are_text_and_are_converted():
    env = {"LENET_BATCH_EPOCHS": "2", "LENET_BATCH_VERIFY_DATA": "no", "LENET_BATCH_LR": "0.05"}
    settings = config.resolve({}, env=env)
    assert (settings.epochs, settings.verify_data, settings.lr) == (2, False, 0.05)
    with pytest.raises(ConfigError, match="environment: epochs = 'two' is not a valid int$"):
        config.resolve({}, env={"LENET_BATCH_EPOCHS": "two"})


@pytest.mark.parametrize("layer", ["flag", "environment", "toml"])
@pytest.mark.parametrize("seeds", ["", " ", ","])
def test_empty_seeds_are_refused_from_every_layer(tmp_path, layer, seeds):
    path = tmp_path / "c.toml"
    path.write_text(f'seeds = "{seeds}"\n')
    flags = {"seeds": seeds} if layer == "flag" else {}
    env = {"LENET_BATCH_SEEDS": seeds} if layer == "environment" else {}
    with pytest.raises(ConfigError, match="--seeds"):
        config.resolve(flags, env=env, config_path=str(path) if layer == "toml" else None)


def test_infer_of_seeds_never_trained_exits_2_naming_them_and_writes_nothing(tmp_path, capsys):
    install_run(str(tmp_path), "r", [0, 1])
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert cli.main(["infer", "--output", str(tmp_path), "--run", "r", "--seeds", "0,9,12", "-q"]) == 2
    line = capsys.readouterr().err.strip()
    assert "no finished model for seed(s) [9, 12] (trained: [0, 1])" in line and "\n" not in line
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# --- the cluster: it answers within --ray-connect-timeout, or exit 9 ----------------------------------------


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A port on 127.0.0.1 whose listen backlog is full: a new connection's SYN is dropped, never answered."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port, clients = server.getsockname()[1], []
    try:
        while True:  # fill the queue until a connection no longer completes at once
            client = socket.socket()
            client.settimeout(0.3)
            clients.append(client)
            try:
                client.connect(("127.0.0.1", port))
            except (TimeoutError, BlockingIOError):
                break
        yield port
    finally:
        for client in clients:
            client.close()
        server.close()


@contextlib.contextmanager
def grpc_not_ray() -> Iterator[int]:
    """A gRPC server on 127.0.0.1 with no Ray service: it answers every call UNIMPLEMENTED (as the proxy in
    front of a black-holed address answered HTTP/2 with 404)."""
    import grpc

    server = grpc.server(ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(None)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def http_server() -> Iterator[int]:
    """A plain HTTP/1 server on 127.0.0.1 (a dashboard, a web server on the port)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# (an endpoint that is not a cluster, what the one line says)
NOT_A_CLUSTER = {
    "refused": (lambda: contextlib.nullcontext(closed_port()), r"cannot connect \(Connection refused\)"),
    "silent": (silent_endpoint, "no Ray cluster answered within 1.5 s"),
    "backlog full": (full_backlog, r"cannot connect \(no answer within 1.5 s\)"),
    "gRPC, not Ray": (grpc_not_ray, r"answers, but not as a Ray GCS \(UNIMPLEMENTED\)"),
    "HTTP/1": (http_server, "no Ray cluster answered within 1.5 s"),
}


@pytest.mark.parametrize("scheme", ["", "ray://"])
@pytest.mark.parametrize("kind", list(NOT_A_CLUSTER))
def test_an_address_that_is_not_a_cluster_is_unavailable_within_the_timeout(kind, scheme):
    endpoint, said = NOT_A_CLUSTER[kind]
    with endpoint() as port:
        started = time.monotonic()
        with pytest.raises(ClusterUnavailable, match=said.replace("Ray GCS", "Ray .*")):
            preflight.check_reachable(f"{scheme}127.0.0.1:{port}", 1.5, 1.5)
        assert time.monotonic() - started < 1.5 + 1


def test_a_name_that_does_not_resolve_fails_saying_so():
    with pytest.raises(ClusterUnavailable, match="cannot resolve no-such-host.invalid"):
        preflight.check_reachable("no-such-host.invalid:6379", 5, 5)


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_real_cluster_passes_the_check(ray_cluster, scheme):
    port = ray_cluster.client_port if scheme else ray_cluster.port
    deadline = time.monotonic() + 60  # `ray start` returns before its Ray Client server listens
    while not _listens(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    address = f"{scheme}127.0.0.1:{port}"
    preflight.check_reachable(address, 10, 10)


# Addresses refused before anything starts, each with its one line; the password is never printed.
SECRET = "S3CR3Tpw"
REFUSED_ADDRESSES = [
    (f"u:{SECRET}@127.0.0.1:1", "a Ray address takes no user or password"),
    (f"ray://u:{SECRET}@127.0.0.1:10001", "a Ray address takes no user or password"),
    (f"{SECRET}@head:6379", "a Ray address takes no user or password"),
    (f"http://u:{SECRET}@head:8265", "that is a dashboard/Jobs API URL"),
    ("h" * 3000 + ":6379", "(3005 characters): not a host name"),
    ("a" * 64 + ".example:6379", "not a host name"),
    ("head..example:6379", "not a host name"),
]


@pytest.mark.parametrize("where", ["flag", "RAY_ADDRESS"])
@pytest.mark.parametrize(("address", "said"), REFUSED_ADDRESSES, ids=lambda v: str(v)[:24])
def test_a_refused_address_is_one_line_exit_2_with_credentials_masked(tmp_path, where, address, said):
    flag = ["--address", address] if where == "flag" else []
    env = {"RAY_ADDRESS": address} if where == "RAY_ADDRESS" else {}
    result = helpers.run_cli("train", "--output", str(tmp_path / "out"), "--seeds", "0", *flag, env=env)
    line = assert_one_line_error(result.returncode, result.stderr, 2, said)
    assert SECRET not in result.stderr + result.stdout and len(line) < 600, line
    assert not (tmp_path / "out").exists()


@pytest.fixture
def stale_auto(tmp_path, monkeypatch):
    """'auto' as Ray resolves it on this machine, from a ray_current_cluster file left by a Ray long gone.

    Other Ray instances running here (other tests, other users) are hidden from Ray's process scan."""
    from ray._private import services

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: set())
    (tmp_path / "ray").mkdir()

    def write(address: str) -> None:
        (tmp_path / "ray" / "ray_current_cluster").write_text(address)

    return write


@pytest.mark.parametrize("kind", ["refused", "silent", "backlog full"])
def test_auto_that_finds_a_stale_address_is_unavailable_within_the_timeout(stale_auto, kind):
    endpoint, said = NOT_A_CLUSTER[kind]
    with endpoint() as port:
        stale_auto(f"127.0.0.1:{port}")
        started = time.monotonic()
        with pytest.raises(ClusterUnavailable, match=rf"--address auto \(127.0.0.1:{port}\): "):
            connect.join("auto", 3)
        assert time.monotonic() - started < 3 + 5


def test_auto_without_any_cluster_says_so(stale_auto):
    with pytest.raises(
        ClusterUnavailable, match="--address auto: ConnectionError: Could not find any running"
    ):
        connect.join("auto", 3)


def test_a_failed_join_is_tried_once_more_after_a_pause_then_exit_9(monkeypatch, caplog):
    calls = []

    def refused(address, left, timeout, shown=""):
        calls.append(time.monotonic())
        raise ClusterUnavailable(f"--address {shown}: cannot connect (Connection refused)")

    monkeypatch.setattr(connect, "check_reachable", refused)
    with pytest.raises(ClusterUnavailable, match=r"cannot connect \(Connection refused\) \(tried twice\)"):
        connect.join("127.0.0.1:1", 30)
    assert len(calls) == 2 and calls[1] - calls[0] >= connect.RETRY_PAUSE
    assert "trying once more in 2 s" in caplog.text


def test_no_second_try_when_the_timeout_is_spent():
    with silent_endpoint() as port:
        with pytest.raises(ClusterUnavailable, match="no time left to try again"):
            connect.join(f"127.0.0.1:{port}", 1.5)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("preflight-data")
    helpers.write_dataset(folder, fashion(), n_train=500, n_test=200)
    return str(folder)


def _train(data: str, out: Path, *extra: str, env: dict | None = None):
    args = ["train", "--output", str(out), "--run-id", "p", "--data", data, "--no-verify", "--seeds", "0-1"]
    started = time.monotonic()
    result = helpers.run_cli(*args, "--epochs", "1", *extra, env=env, timeout=300)
    return result, time.monotonic() - started


@pytest.mark.parametrize("endpoint", ["refused", "silent", "gRPC, not Ray"])
def test_train_against_an_unreachable_cluster_exits_9_in_bounded_time_writing_nothing(
    data_dir, tmp_path, endpoint
):
    with NOT_A_CLUSTER[endpoint][0]() as port:
        address = ["--address", f"127.0.0.1:{port}", "--ray-connect-timeout", "2"]
        result, seconds = _train(data_dir, tmp_path / "out", *address, "-q")
    assert_one_line_error(result.returncode, result.stderr, 9, f"--address 127.0.0.1:{port}")
    assert seconds < 20, seconds  # the interpreter and imports, then at most the 2 s asked for (+ 5)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["train", "infer", "nightly"])
def test_gpus_on_a_machine_without_them_exit_2_before_ray_starts(data_dir, tmp_path, command):
    if preflight.local_gpu_count() > 0:
        pytest.skip("this machine has a GPU")
    out = tmp_path / "out"
    if command == "infer":
        install_run(str(out), "p", [0])
    before = sorted(out.rglob("*")) if out.exists() else []
    args = [command, "--output", str(out), "--run-id", "p", "--gpus-per-seed", "0.5", "--data", data_dir]
    result = helpers.run_cli(*args, "--no-verify", "--seeds", "0", timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "this machine has 0 GPU(s)" in result.stderr.strip().splitlines()[-1]
    assert "started a local Ray" not in result.stderr
    assert (sorted(out.rglob("*")) if out.exists() else []) == before  # no run.json, no log, no lock


class _SlowTruncated(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, each answer after DELAY seconds: data that fails while Ray is starting."""

    DELAY = 1.5

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(self.DELAY)
        super().do_GET()


@pytest.mark.slow
def test_data_that_fails_while_ray_starts_stops_the_start_and_writes_nothing(tmp_path):
    data = tmp_path / "data"
    helpers.write_dataset(data, fashion(), n_train=2000, n_test=200)
    gz = data / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:-5000])  # truncated
    handler = lambda *a, **k: _SlowTruncated(*a, directory=str(data), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tag = uuid.uuid4().hex
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result, seconds = _train(url, tmp_path / "out", env={TAG: tag, "RAY_DEDUP_LOGS": "0"})
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "damaged or truncated gzip data" in result.stderr.strip().splitlines()[-1]
    assert "started a local Ray" not in result.stderr  # the start was stopped, not waited for
    assert not (tmp_path / "out").exists()
    assert_gone(tag)
    print(f"\n  truncated data while Ray starts: exit 2 after {seconds:.1f} s")


def test_a_local_start_gives_rays_node_registration_two_minutes(monkeypatch):
    import ray._private.ray_constants as ray_constants

    monkeypatch.delenv(connect.START_WAIT_VARIABLE, raising=False)
    monkeypatch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    connect.prepare_local()
    assert os.environ[connect.START_WAIT_VARIABLE] == "120"  # inherited by the Ray processes it starts
    monkeypatch.setenv(connect.START_WAIT_VARIABLE, "600")
    connect.prepare_local()
    assert os.environ[connect.START_WAIT_VARIABLE] == "600"  # an operator's own setting wins
