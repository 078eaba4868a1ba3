"""--report-base-url: the URL that serves the output's root turns the report and history.html into links
people can click, in the webhook's document and text, in `check` (line and JSON) and in `runs` (JSON and
lines); it is checked whole, set by flag, TOML or environment, and its credentials are masked wherever it
appears."""

import contextlib
import json

import pytest

from lenet_batch import cli, config
from lenet_batch.errors import ConfigError, RegressionDetected
from lenet_batch.monitor.watch import NightWatch
from lenet_batch.state.run_state import read_state
from tests.fault_helpers import assert_one_line_error
from tests.history_helpers import write_synthetic_runs
from tests.hook_server import hook_server
from tests.test_check import NEWEST

BASE = "https://reports.example/lenet"
REPORT = f"{BASE}/runs/{NEWEST}/summary/report.html"
HISTORY = f"{BASE}/history/history.html"


@pytest.fixture(params=["local", "s3"])
def output(request, tmp_path) -> str:
    """Three nights, the newest regressed, on a local folder or on S3."""
    if request.param == "s3":
        uri = request.getfixturevalue("s3_endpoint").uri("out")
    else:
        uri = str(tmp_path / "out")
    write_synthetic_runs(uri, 3, 3, {2: "regressed"})
    return uri


def test_the_webhook_carries_the_report_and_the_history_as_links(output):
    with hook_server() as hook:
        flags = {"output": output, "run_id": NEWEST, "notify": hook.url, "report_base_url": BASE + "/"}
        watch = NightWatch.start(config.resolve(flags, env={}))
        watch.state = read_state(watch.settings.run_ref())  # as the nightly read it
        with contextlib.suppress(RegressionDetected), watch:
            raise RegressionDetected("regressed")
    (doc,) = hook.received
    assert (doc["report"], doc["history"]) == (REPORT, HISTORY)
    lines = doc["text"].splitlines()
    assert lines[0] == f"lenet-batch night {NEWEST}: REGRESSED (exit 4)"
    assert lines[-2:] == [f"report: {REPORT}", f"history: {HISTORY}"]


def test_check_gives_the_links_in_its_line_and_its_json(output, capsys):
    code = cli.main(["check", "--output", output, "--report-base-url", BASE, "-q"])
    line = capsys.readouterr().out.strip()
    assert code == 4 and line.endswith(f"; report: {REPORT}; history: {HISTORY}"), line
    assert cli.main(["check", "--output", output, "--report-base-url", BASE, "--json"]) == 4
    doc = json.loads(capsys.readouterr().out)
    assert (doc["report_url"], doc["history_url"]) == (REPORT, HISTORY)
    assert doc["night"]["report"].startswith(output)  # the file itself stays named by its URI


def test_runs_gives_each_nights_report_as_a_link(output, capsys):
    assert cli.main(["runs", "--output", output, "--report-base-url", BASE, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["report_url"] for r in rows] == [f"{BASE}/runs/{r['run_id']}/summary/report.html" for r in rows]
    assert {r["history_url"] for r in rows} == {HISTORY}
    assert cli.main(["runs", "--output", output, "--report-base-url", BASE]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [f"report: {REPORT}", f"history: {HISTORY}"]


def test_without_a_base_url_nothing_changes(output, capsys):
    assert cli.main(["check", "--output", output, "--json"]) == 4
    doc = json.loads(capsys.readouterr().out)
    assert doc["report_url"] is None and doc["history_url"] is None
    assert cli.main(["runs", "--output", output, "--json"]) == 0
    assert not any("report_url" in row for row in json.loads(capsys.readouterr().out))


def test_the_base_urls_credentials_are_masked_wherever_it_appears(tmp_path, capsys):
    out = str(tmp_path / "out")
    write_synthetic_runs(out, 3, 3, {2: "regressed"})
    secret = "https://reader:hunter2@reports.example/lenet"
    for argv in (["check", "-q"], ["check", "--json"], ["runs"], ["runs", "--json"]):
        cli.main([*argv, "--output", out, "--report-base-url", secret])
        printed = capsys.readouterr().out
        assert "https://***@reports.example/lenet/runs/" in printed and "hunter2" not in printed, argv
    recorded = config.resolve({"report_base_url": secret}, env={}).public_record()
    assert recorded["report_base_url"] == "https://***@reports.example/lenet"


@pytest.mark.parametrize("layer", ["flag", "toml", "env"])
def test_the_base_url_is_set_by_flag_toml_or_environment(tmp_path, monkeypatch, capsys, layer):
    out = str(tmp_path / "out")
    write_synthetic_runs(out, 3, 3)
    argv = ["check", "--output", out, "--json"]
    if layer == "flag":
        argv += ["--report-base-url", BASE]
    elif layer == "toml":
        (tmp_path / "c.toml").write_text(f'report_base_url = "{BASE}"\n')
        argv += ["--config", str(tmp_path / "c.toml")]
    else:
        monkeypatch.setenv("LENET_BATCH_REPORT_BASE_URL", BASE)
    cli.main(argv)
    assert json.loads(capsys.readouterr().out)["history_url"] == HISTORY


BAD_BASES = {
    "another scheme": "ftp://reports.example/lenet",
    "no scheme": "reports.example/lenet",
    "a space": "https://reports.example/le net",
    "a line break": "https://reports.example/lenet\r\nX-Injected: 1",
    "port 99999": "https://reports.example:99999/lenet",
    "a bracket left open": "https://[::1/lenet",
    "a 5,000-character host": "https://" + "h" * 5000 + "/lenet",
    "a query": "https://reports.example/lenet?token=abc",
    "a fragment": "https://reports.example/lenet#top",
}


@pytest.mark.parametrize("url", BAD_BASES.values(), ids=BAD_BASES.keys())
def test_a_bad_base_url_exits_2_with_one_line_before_anything_is_read(tmp_path, capsys, url):
    code = cli.main(["check", "--output", str(tmp_path / "nowhere"), "--report-base-url", url])
    line = assert_one_line_error(code, capsys.readouterr().err, 2, "--report-base-url ")
    assert "X-Injected" not in line and "abc" not in line and len(line) < 300
    with pytest.raises(ConfigError, match="--report-base-url"):
        config.resolve({}, env={"LENET_BATCH_REPORT_BASE_URL": url})


def test_a_base_url_with_an_ipv6_host_and_a_path_is_taken(tmp_path, capsys):
    out = str(tmp_path / "out")
    write_synthetic_runs(out, 1, 3)
    assert cli.main(["check", "--output", out, "--report-base-url", "http://[::1]:8080/a/b/", "--json"]) == 7
    assert json.loads(capsys.readouterr().out)["history_url"] == "http://[::1]:8080/a/b/history/history.html"
