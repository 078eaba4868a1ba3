"""`query` is one read-only SELECT that sees only the output's prediction files and runs.parquet, unless
--unrestricted."""

import json
from pathlib import Path

import pytest

from lenet_batch import cli
from lenet_batch.history.stage import build_history
from lenet_batch.scoring.partitions import write_partition
from lenet_batch.store.layout import Layout
from tests.fault_helpers import assert_one_line_error
from tests.history_helpers import write_synthetic_runs
from tests.prediction_helpers import fake_batches


@pytest.fixture
def output(tmp_path) -> str:
    layout = Layout(str(tmp_path / "out"))
    write_partition(layout.run("r1"), 0, fake_batches(120, 60, 0), "e" * 64)
    (tmp_path / "secret.txt").write_text("do not read")
    return layout.output


def query(capsys, output: str, sql: str, *flags: str) -> tuple[int, str, str]:
    code = cli.main(["query", sql, "--output", output, "--json", *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# Statements that are not one SELECT: refused before DuckDB runs anything (the statement kind is named).
NOT_ONE_SELECT = [
    ("COPY (SELECT * FROM predictions) TO '{tmp}/stolen.csv'", "not COPY"),
    ("ATTACH '{tmp}/db.duckdb' AS d", "not ATTACH"),
    ("INSTALL httpfs", "not LOAD"),
    ("LOAD httpfs", "not LOAD"),
    ("SET enable_external_access = true", "not SET"),
    ("CREATE TABLE t AS SELECT * FROM predictions", "not CREATE"),
    ("SELECT 1; COPY (SELECT 1) TO '{tmp}/x.csv'", "give one SQL statement, not 2"),
]
# SELECTs that reach for files other than the predictions: refused by DuckDB itself.
OTHER_FILES = [
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('{tmp}/secret.txt')",
    "SELECT * FROM read_parquet('/etc/*.parquet')",
    "SELECT * FROM glob('/root/*')",
    "SELECT (SELECT count(*) FROM read_text('{tmp}/secret.txt'))",
    "EXPLAIN ANALYZE SELECT * FROM read_text('/etc/hostname')",
]


def _refused(capsys, output: str, tmp_path, sql: str, message: str) -> None:
    code, out, err = query(capsys, output, sql.format(tmp=tmp_path))
    line = assert_one_line_error(code, err, 2, message)
    assert out == "" and "--unrestricted lifts this" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "secret.txt"]  # nothing written


@pytest.mark.parametrize(("sql", "message"), NOT_ONE_SELECT)
def test_anything_but_one_select_is_refused(output, tmp_path, capsys, sql, message):
    _refused(capsys, output, tmp_path, sql, message)


@pytest.mark.parametrize("sql", OTHER_FILES)
def test_reading_files_other_than_the_predictions_is_refused(output, tmp_path, capsys, sql):
    _refused(capsys, output, tmp_path, sql, "Permission Error: Cannot access file")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT seed, count(*) AS n FROM predictions GROUP BY seed",
        "WITH p AS (SELECT * FROM predictions) SELECT seed, count(*) AS n FROM p GROUP BY seed",
        "FROM predictions SELECT seed, count(*) AS n GROUP BY seed",
    ],
)
def test_read_only_selects_over_the_predictions_work(output, capsys, sql):
    code, out, err = query(capsys, output, sql)
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [{"seed": 0, "n": 120}]


def test_the_prediction_files_themselves_may_be_named(output, capsys):
    part = Path(output) / "predictions" / "run_id=r1" / "seed=0" / "part-00000.parquet"
    code, out, err = query(capsys, output, f"SELECT count(*) AS n FROM read_parquet('{part}')")
    assert code == 0, err
    assert json.loads(out) == {"n": 120}


def test_unrestricted_lifts_the_sandbox(output, tmp_path, capsys):
    target = tmp_path / "copy.csv"
    code, _, err = query(
        capsys, output, f"COPY (SELECT seed FROM predictions) TO '{target}'", "--unrestricted"
    )
    assert code == 0, err
    assert target.read_text().splitlines()[:2] == ["seed", "0"]
    code, out, err = query(
        capsys, output, f"SELECT content FROM read_text('{tmp_path}/secret.txt')", "--unrestricted"
    )
    assert code == 0 and json.loads(out) == {"content": "do not read"}, err


def test_the_runs_view_is_readable_and_the_rest_of_history_is_not(tmp_path, capsys):
    out = str(tmp_path / "out")
    write_synthetic_runs(out, 2, 2)
    build_history(Layout(out))
    code, got, err = query(capsys, out, "SELECT count(*) AS n, count(DISTINCT run_id) AS nights FROM runs")
    assert code == 0 and json.loads(got) == {"n": 4, "nights": 2}, err
    for name in ("history.html", "runs.parquet/../history.html"):
        code, _, err = query(capsys, out, f"SELECT * FROM read_text('{out}/history/{name}')")
        assert_one_line_error(code, err, 2, "Permission Error: Cannot access file")
    (tmp_path / "out" / "history" / "copy.parquet").write_bytes(
        (tmp_path / "out" / "history" / "runs.parquet").read_bytes()
    )
    code, _, err = query(capsys, out, f"SELECT count(*) FROM read_parquet('{out}/history/copy.parquet')")
    assert_one_line_error(code, err, 2, "Permission Error: Cannot access file")


def test_remote_outputs_are_queried_through_fsspec_and_sandboxed(s3_endpoint, capsys):
    layout = Layout(s3_endpoint.uri("out"))
    write_partition(layout.run("r1"), 3, fake_batches(70, 70, 3), "e" * 64)
    code, out, err = query(capsys, layout.output, "SELECT seed, count(*) AS n FROM predictions GROUP BY seed")
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [{"seed": 3, "n": 70}]
    marker = f"{layout.output}/predictions/run_id=r1/seed=3/_COMMITTED.json"
    code, _, err = query(capsys, layout.output, f"SELECT * FROM read_text('{marker}')")
    assert_one_line_error(code, err, 2, "Permission Error")
    code, _, err = query(capsys, layout.output, "SELECT count(*) FROM runs")  # no history yet
    assert_one_line_error(code, err, 2, f"no {layout.output}/history/runs.parquet yet")
    write_synthetic_runs(layout.output, 2, 1)
    build_history(layout)
    code, out, err = query(capsys, layout.output, "SELECT run_id, seed FROM runs ORDER BY run_id")
    assert code == 0, err
    assert [json.loads(line)["seed"] for line in out.splitlines()] == [0, 1]
    page = f"{layout.output}/history/history.html"
    code, _, err = query(capsys, layout.output, f"SELECT * FROM read_text('{page}')")
    assert_one_line_error(code, err, 2, "Permission Error")
