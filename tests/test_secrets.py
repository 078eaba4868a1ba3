"""A secret in a URL is a secret: userinfo and credential-like query parameters are masked wherever the
program writes or prints, for every flag that takes a URI; an --output holding credentials is refused."""

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest

from lenet_batch import cli, config
from lenet_batch.data import fashion_mnist
from lenet_batch.errors import ConfigError
from lenet_batch.redaction import redact, redact_text, redact_uri
from tests import helpers
from tests.fault_helpers import closed_port
from tests.prediction_helpers import fashion, install_run
from tests.test_storage_errors import file_server


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("http://user:PASS@host/x.npy", "http://***@host/x.npy"),
        ("https://ghp_TOKEN@host:8443/x.npy", "https://***@host:8443/x.npy"),
        ("ftp://u:p@ss@host/x", "ftp://***@host/x"),
        ("https://h/x.npy?token=T&n=1", "https://h/x.npy?token=***&n=1"),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=A&X-Amz-Credential=C&X-Amz-Signature=S",
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=A&X-Amz-Credential=***&X-Amz-Signature=***",
        ),
        (
            "https://a.blob.core.windows.net/c/x?sv=2024&sig=S%2Bx&se=2030",
            "https://a.blob.core.windows.net/c/x?sv=2024&sig=***&se=2030",
        ),
        ("https://h/x?api_key=K;password=P#part", "https://h/x?api_key=***;password=***#part"),
        (
            "https://h/x?X-Amz-Security-Token=T&access_token=A&pwd=P",
            "https://h/x?X-Amz-Security-Token=***&access_token=***&pwd=***",
        ),
        ("simplecache::https://u:P@h/x?key=K", "simplecache::https://***@h/x?key=***"),
    ],
)
def test_userinfo_and_credential_parameters_are_masked(uri, masked):
    assert redact_uri(uri) == masked
    assert redact(uri) == masked and redact({"input": [uri]}) == {"input": [masked]}


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/lenet",
        "/data/fashion",
        "https://h/x.npy?n=1&page=2",
        "https://h/a%20b.npy",
        "ray://h:10001",
    ],
)
def test_uris_without_secrets_are_left_byte_for_byte(uri):
    assert redact_uri(uri) == uri


def test_uris_inside_text_are_masked_and_the_text_kept():
    text = "error: http://u:P@h/x.npy: not found (see 'https://h/y?token=T')."
    assert redact_text(text) == "error: http://***@h/x.npy: not found (see 'https://h/y?token=***')."


SECRETS = ("PASS1", "TOK2", "SIG3", "PW4", "SIG5")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("served")
    images, labels = fashion().test_images[:600], fashion().test_labels[:600]
    np.save(folder / "x.npy", images)
    helpers.write_idx(folder / "x.idx.gz", images)
    helpers.write_idx(folder / "y.idx.gz", labels)
    helpers.write_dataset(folder / "fm", fashion(), n_train=300, n_test=300)
    return folder


def _assert_nowhere(secrets, out: Path, *texts: str) -> None:
    for secret in secrets:
        assert all(secret not in text for text in texts), secret
        files = [p for p in out.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
        assert not files, (secret, files)


def test_input_uris_with_secrets_leave_them_in_no_file_and_no_output(served, tmp_path, capsys):
    out = tmp_path / "out"
    install_run(str(out), "r", [0, 1])
    with file_server(served) as base:
        host = base.removeprefix("http://")
        shapes = [
            ["--input", f"http://user:PASS1@{host}/x.npy", "--input-name", "a"],
            ["--input", f"{base}/x.npy?token=TOK2&X-Amz-Signature=SIG3", "--input-name", "b"],
            ["--input", f"http://k:PW4@{host}/x.idx.gz", "--input-labels", f"{base}/y.idx.gz?sig=SIG5"],
        ]
        for shape in shapes:
            assert cli.main(["infer", "--output", str(out), "--run", "r", *shape, "-v"]) == 0
    captured = capsys.readouterr()
    assert "***" in captured.err  # the URIs were logged, masked
    _assert_nowhere(SECRETS, out, captured.out, captured.err)
    stages = json.loads((out / "runs" / "r" / "run.json").read_text())["stages"]
    assert stages["infer:a"]["input"] == f"http://***@{host}/x.npy"
    assert stages["infer:b"]["input"] == f"{base}/x.npy?token=***&X-Amz-Signature=***"
    marker = out / "scored" / "input=x" / "run_id=r" / "seed=0" / "_COMMITTED.json"
    assert json.loads(marker.read_text())["input"] == f"http://***@{host}/x.idx.gz"
    assert list((out / "runs" / "r" / "logs").iterdir())  # the durable logs were searched too


def test_data_uris_with_secrets_are_masked_in_what_is_printed_and_recorded(served, tmp_path, capsys):
    with file_server(served) as base:
        host = base.removeprefix("http://")
        uri = f"http://user:PW6@{host}/fm"
        assert cli.main(["data", "--data", uri, "--no-verify", "--json"]) == 0
        dataset = fashion_mnist.read_folder(uri, verify=False)
    captured = capsys.readouterr()
    assert json.loads(captured.out)["source"] == f"http://***@{host}/fm"
    assert dataset.info().source == f"http://***@{host}/fm"  # as run.json and metrics.json record it
    uri += "?token=TOK7"
    _assert_nowhere(["PW6", "TOK7"], tmp_path, captured.out, captured.err)
    recorded = config.Settings(data=uri, input=uri, input_labels=uri).public_record()
    assert "PW6" not in json.dumps(recorded) and "TOK7" not in json.dumps(recorded)


@pytest.mark.parametrize(
    "args",
    [
        ["infer", "--run", "r", "--input", "http://u:PW8@127.0.0.1:{port}/x.npy"],
        ["data", "--data", "http://127.0.0.1:{port}/fm?token=PW8"],
        ["train", "--address", "ray://u:PW8@head:10001"],
        ["train", "--epochs", "http://u:PW8@h/x"],  # argparse's own error line
        ["train", "--config", "{toml}"],  # a TOML value of the wrong type, echoed in the error
        ["nightly", "--output", "ftp://u:PW8@127.0.0.1/lenet"],
        ["query", "SELECT 1", "--output", "http://h/out?token=PW8"],
    ],
    ids=["input", "data", "address", "argparse", "toml", "output-userinfo", "output-token"],
)
def test_error_lines_never_show_the_secret(args, tmp_path, capsys):
    install_run(str(tmp_path / "out"), "r", [0])
    toml = tmp_path / "c.toml"
    toml.write_text('data = ["http://u:PW8@h/fm"]\n')
    argv = [a.format(port=closed_port(), toml=toml) for a in args]
    if "--output" not in argv and argv[0] != "data":
        argv += ["--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit) if "--epochs" in argv else contextlib.nullcontext():  # argparse exits
        assert cli.main([*argv, "-q"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() and "PW8" not in captured.err + captured.out
    _assert_nowhere(["PW8"], tmp_path / "out", "")


def test_an_output_holding_credentials_is_refused_naming_the_safe_way(tmp_path):
    with pytest.raises(ConfigError, match=r"--output ftp://\*\*\*@h/x: credentials in the output URI"):
        config.resolve({"output": "ftp://user:SECRET@h/x"}, env={})
