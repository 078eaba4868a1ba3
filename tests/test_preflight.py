"""Check before any side effect: every value's syntax and type, a cluster that does not answer (in a bounded,
configurable time), GPUs that are not there, data that fails while Ray starts, seeds with no model: each
exits 2 with one line, before Ray starts (or as soon as it can stop) and before anything is written."""

import contextlib
import http.server
import threading
import time
import uuid
from pathlib import Path

import pytest

from lenet_batch import cli, config
from lenet_batch.cluster import preflight
from lenet_batch.errors import ConfigError
from tests import helpers
from tests.fault_helpers import assert_one_line_error, closed_port, silent_endpoint
from tests.prediction_helpers import fashion, install_run
from tests.test_signals import TAG, seconds_until_gone


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
    with pytest.raises(ConfigError, match="--address 'garbage:::'"):
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


# --- the cluster: reachable within --ray-connect-timeout, or exit 2 -----------------------------------------


def test_a_refused_address_fails_at_once():
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"cannot connect \(Connection refused\)"):
        preflight.check_reachable(f"127.0.0.1:{closed_port()}", 30)
    assert time.monotonic() - started < 2


def test_a_silent_address_fails_within_the_timeout():
    with silent_endpoint() as port:
        started = time.monotonic()
        with pytest.raises(ConfigError, match="no Ray cluster answered within 1.5 s"):
            preflight.check_reachable(f"127.0.0.1:{port}", 1.5)
        assert 1.4 < time.monotonic() - started < 4


def test_a_name_that_does_not_resolve_fails_saying_so():
    with pytest.raises(ConfigError, match="cannot resolve no-such-host.invalid"):
        preflight.check_reachable("no-such-host.invalid:6379", 5)


@pytest.mark.slow
def test_a_real_cluster_passes_the_check(ray_cluster):
    preflight.check_reachable(ray_cluster.address, 10)


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


@pytest.mark.parametrize("endpoint", ["refused", "silent"])
def test_train_against_an_unreachable_cluster_exits_2_in_bounded_time_writing_nothing(
    data_dir, tmp_path, endpoint
):
    with silent_endpoint() if endpoint == "silent" else contextlib.nullcontext(closed_port()) as port:
        address = ["--address", f"127.0.0.1:{port}", "--ray-connect-timeout", "2"]
        result, seconds = _train(data_dir, tmp_path / "out", *address, "-q")
    assert_one_line_error(result.returncode, result.stderr, 2, f"--address 127.0.0.1:{port}")
    assert seconds < 20, seconds  # the interpreter and imports, then at most the 2 s asked for
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
    assert seconds_until_gone(tag) < 10
    print(f"\n  truncated data while Ray starts: exit 2 after {seconds:.1f} s")
