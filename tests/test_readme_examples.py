"""The README's examples, run as printed, on what they describe; printed output compared by its shape.

The nights are the README's own "three-nights" commands, run once for the module in a folder of their own
(3 seeds x 1 epoch on a 12,000/1,000-image subset of the real data): each seed trained in this process by the
function a Ray train task runs (tests/sealed_helpers.py; the Ray path is the "first-night" test's and the
nightly tests'), then the `lenet-batch nightly` command through the CLI, which finds the seeds complete,
scores them, summarises, gates and rebuilds the history. Tests that write work on a copy.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lenet_batch import cli
from lenet_batch.errors import RegressionDetected
from lenet_batch.monitor import notify
from lenet_batch.monitor.watch import attempt_end
from lenet_batch.state.night import night_status
from lenet_batch.state.run_state import read_state
from lenet_batch.store.layout import Layout
from tests import helpers, readme
from tests.sealed_helpers import nightly_in_process, train_in_process

pytestmark = pytest.mark.slow

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")


def printed(out: str, err: str) -> str:
    """What a terminal shows of a command, log lines (timestamped, stderr) aside."""
    return "\n".join([out.rstrip("\n"), *(x for x in err.splitlines() if not LOG_LINE.match(x))]).strip("\n")


def argv_of(command: str) -> list[str]:
    """A README command line's arguments after `lenet-batch`."""
    words = shlex.split(command)
    assert words[0] == "lenet-batch", command
    return words[1:]


def run_here(argv: list[str], capsys) -> tuple[int, str]:
    """`lenet-batch ARGV` in this process and folder: (exit code, what the terminal shows)."""
    capsys.readouterr()
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, printed(captured.out, captured.err)


def assert_same_shape(shown: str, got: str, command: str) -> None:
    assert readme.shape(got) == readme.shape(shown), f"$ {command}\n--- README\n{shown}\n--- printed\n{got}"


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> dict:
    """The folder holding the three nights' ./runs, and what each nightly printed, by command."""
    folder = tmp_path_factory.mktemp("readme-nights")
    before, shown = os.getcwd(), {}
    os.chdir(folder)
    try:
        for command, _ in readme.commands_and_output(readme.block("three-nights")):
            argv = argv_of(command)
            assert argv[0] == "nightly"
            train_in_process([a for a in argv[1:] if a != "-q"])
            code, out, err = nightly_in_process(argv[1:])
            shown[command] = (code, printed(out, err))
    finally:
        os.chdir(before)
    return {"folder": folder, "printed": shown}


@pytest.fixture
def in_nights(nights, monkeypatch) -> Path:
    """The nights' folder as the working directory (for tests that only read)."""
    monkeypatch.chdir(nights["folder"])
    return nights["folder"]


@pytest.fixture
def in_copy(nights, tmp_path, monkeypatch) -> Path:
    """A copy of the nights' folder as the working directory (for tests that write)."""
    copy = tmp_path / "copy"
    shutil.copytree(nights["folder"], copy, symlinks=True)
    monkeypatch.chdir(copy)
    return copy


def test_the_three_nightlies_print_what_the_readme_shows(nights):
    pairs = readme.commands_and_output(readme.block("three-nights"))
    assert [nights["printed"][c][0] for c, _ in pairs] == [0, 8, 4]  # inconclusive: 8; regressed: 4
    for command, shown in pairs:
        assert_same_shape(shown, nights["printed"][command][1], command)
    assert "nothing recorded changed" in pairs[1][1] and "changed: lr 0.1 → 0.01" in pairs[2][1]


@pytest.mark.parametrize("name", ["runs", "check", "reuse"])
def test_commands_on_the_nights_print_what_the_readme_shows(in_nights, capsys, name):
    for command, shown in readme.commands_and_output(readme.block(name)):
        code, got = run_here(argv_of(command), capsys)
        assert code == {"runs": 0, "check": 4}.get(name, 2 if "--dry-run" not in command else 0)
        assert_same_shape(shown, got, command)


def test_scoring_other_images_prints_what_the_readme_shows_and_skips_the_second_time(in_copy, capsys):
    (make_npy, _), *infers = readme.commands_and_output(readme.block("infer-input"))
    python_code = shlex.split(make_npy)
    assert python_code[:2] == ["python", "-c"]
    done = subprocess.run([sys.executable, "-c", python_code[2]], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command, shown in infers:
        code, got = run_here(argv_of(command), capsys)
        assert code == 0
        assert_same_shape(shown, got, command)
    assert (in_copy / "runs" / "scored" / "input=new" / "run_id=2026-11-27" / "seed=2").is_dir()


def test_the_output_layout_names_what_a_night_writes(in_copy, capsys):
    # A named input's scores exist only after `infer --input`; the lock and marks only while commands run.
    run_here(["infer", "--run", "2026-11-27", "--input", write_npy(in_copy), "-q"], capsys)
    paths = []
    for line in readme.block("layout").splitlines()[1:]:
        if line.startswith("  ") and not line.startswith("   "):
            paths.append(line.split()[0].rstrip(","))
    assert len(paths) >= 9
    for path in paths:
        pattern = re.sub(r"<[^>]+>", "*", path)
        if path in ("_lock.json", "_writers/<command>-<run_id>-<host>-<pid>.json"):
            assert not list(in_copy.glob(f"runs/{pattern}"))  # held only while a command runs
            continue
        assert list(in_copy.glob(f"runs/{pattern}")), path


def test_prune_prints_what_the_readme_shows_and_its_dry_run_writes_nothing(in_copy, capsys):
    def files() -> dict[str, int]:
        return {str(p.relative_to(in_copy)): p.stat().st_size for p in in_copy.rglob("*") if p.is_file()}

    (dry, shown), *_ = readme.commands_and_output(readme.block("prune"))
    before = files()
    code, got = run_here(argv_of(dry), capsys)
    assert code == 0 and files() == before
    assert_same_shape(shown, got, dry)
    code, _ = run_here([*argv_of(dry)[:-1], "-q"], capsys)  # the same without --dry-run
    assert code == 0 and not list(in_copy.glob("runs/predictions/run_id=2026-11-27/*"))
    code, got = run_here(["runs"], capsys)
    rows = {line.split()[0]: line for line in got.splitlines()[1:4]}
    assert code == 0 and got.split("\n", 1)[0].endswith("note") and "  pruned 20" in rows["2026-11-27"]
    assert "pruned" not in rows["2026-11-26"] + rows["2026-11-28"]


def write_npy(folder: Path) -> str:
    import numpy as np

    from lenet_batch.data import fashion_mnist

    path = folder / "few.npy"
    np.save(path, fashion_mnist.load(allow_download=False).test_images[:20])
    return str(path)


def test_the_python_api_reads_a_night(in_nights):
    namespace: dict = {}
    exec(compile(readme.block("python-api"), "README.md", "exec"), namespace)
    assert namespace["table"].num_rows == 3 * 1000
    assert sorted(namespace["per_seed"]["seed"]) == [0, 1, 2]
    summary = namespace["summary"]
    assert summary.run_id == "2026-11-27" and summary.n_seeds == 3
    assert summary.across_seeds.ci95 is not None and "INCONCLUSIVE" in summary.comparison.line()  # 3 seeds


def test_the_query_examples_agree_with_each_other(in_nights, capsys):
    command = " ".join(readme.block("query-cli").split())
    code, got = run_here([*argv_of(command), "--json"], capsys)
    assert code == 0
    by_cli = {row["seed"]: row["accuracy"] for row in map(json.loads, got.splitlines())}
    namespace: dict = {}
    exec(compile(readme.block("query-python"), "README.md", "exec"), namespace)
    shown = capsys.readouterr().out  # DuckDB's .show()
    assert all(f"{seed}" in shown for seed in by_cli)
    by_pandas = namespace["df"].groupby("seed", observed=True)["correct"].mean()
    assert sorted(by_cli) == [0, 1, 2]
    assert [by_cli[s] for s in sorted(by_cli)] == pytest.approx(list(by_pandas.sort_index()))
    source = re.search(r"read_parquet\(.*?\}\)", readme.block("query-python"), re.DOTALL).group(0)
    assert duckdb.sql(f"SELECT DISTINCT typeof(run_id) FROM {source}").fetchall() == [("VARCHAR",)]


def test_the_runs_view_lists_the_nights_that_regressed_in_the_last_month(in_nights, capsys):
    command = " ".join(readme.block("query-runs").split())
    code, got = run_here([*argv_of(command), "--json"], capsys)
    assert code == 0, got
    rows = [json.loads(line) for line in got.splitlines()]
    assert [(r["run_id"], r["baseline_run_id"]) for r in rows] == [("2026-11-28", "2026-11-26")]
    assert "lr" in rows[0]["changes"]


def test_the_history_queries_name_the_regressed_night_and_its_change(in_nights):
    text = readme.block("history-sql")
    queries = [q for q in "\n".join(x for x in text.splitlines() if not x.startswith("--")).split(";")]
    by_night, regressed = (duckdb.sql(q).fetchall() for q in queries if q.strip())
    assert [r[0] for r in by_night] == ["2026-11-26", "2026-11-27", "2026-11-28"]
    assert [r[2] for r in by_night] == [3, 3, 3] and by_night[0][1] == pytest.approx(by_night[1][1])
    ((run_id, p_value, effect, baseline, changes),) = regressed
    assert (run_id, baseline) == ("2026-11-28", "2026-11-26") and p_value < 0.01 and effect < 0
    assert "lr" in str(changes)


def test_the_metrics_file_has_the_readme_families(in_nights, tmp_path, capsys):
    prom = tmp_path / "lenet_batch.prom"
    code, _ = run_here(["check", "--metrics-file", str(prom)], capsys)
    assert code == 4
    series = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
    written = [series.match(x).groups() for x in prom.read_text().splitlines() if not x.startswith("#")]
    shown = [series.match(x).groups() for x in readme.block("metrics").splitlines()]
    labels = lambda text: dict(re.findall(r'(\w+)="([^"]*)"', text))  # noqa: E731
    assert {name for name, _, _ in shown} == {name for name, _, _ in written}
    for name, text, value in shown:
        keys = labels(text)
        matching = [v for n, t, v in written if n == name and labels(t).keys() == keys.keys()]
        chosen = {k: v for k, v in keys.items() if k in ("state", "stage", "status")}
        exact = [v for n, t, v in written if n == name and chosen.items() <= labels(t).items()]
        assert matching and exact, (name, text)
        assert float(exact[0]) == pytest.approx(float(value), rel=0.2, abs=1e-3) or "seconds" in name
    # the alert rules: tests/test_readme_monitoring.py (promtool)


def test_the_webhook_document_is_what_the_regressed_night_sends(in_nights, nights):
    shown = json.loads(readme.block("webhook"))
    code, text = nights["printed"][readme.commands_and_output(readme.block("three-nights"))[2][0]]
    error = text.splitlines()[-1].removeprefix("lenet-batch nightly: error: ")
    state = read_state(Layout("./runs").run("2026-11-28"))
    end = attempt_end("2026-11-28", RegressionDetected(error), state, wrote=True)
    sent = notify.notice_of(night_status(state), end, "./runs", "runs/history/history.html").to_json()
    assert list(shown) == list(sent)
    for key, value in shown.items():
        if isinstance(value, str) and "…" in value:  # elided: the pieces shown appear in order
            assert re.fullmatch(".*".join(map(re.escape, value.split("…"))), sent[key], re.DOTALL), key
        else:
            assert sent[key] == value, key


@pytest.mark.slow
def test_the_first_night_runs_as_printed_on_a_local_ray(tmp_path):
    for command, shown in readme.commands_and_output(readme.block("first-night")):
        done = helpers.run_cli(*argv_of(command), timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert_same_shape(shown, printed(done.stdout, done.stderr), command)
    assert (tmp_path / "smoke" / "_last_success.json").is_file()
