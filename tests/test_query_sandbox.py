"""`query` is one read-only SELECT that sees only the output's prediction files, unless --unrestricted."""

import json
from pathlib import Path

import pytest

from lenet_batch import cli
from lenet_batch.scoring.partitions import write_partition
from lenet_batch.store.layout import Layout
from tests.fault_helpers import assert_one_line_error
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


REFUSED = {
    "COPY TO": (
        "COPY (SELECT * FROM predictions) TO '{tmp}/stolen.csv'",
        "only SELECT queries are run, not COPY",
    ),
    "read_text": ("SELECT * FROM read_text('/etc/passwd')", 'Cannot access file "/etc/passwd"'),
    "read_csv": ("SELECT * FROM read_csv('{tmp}/secret.txt')", "secret.txt"),
    "other parquet": ("SELECT * FROM read_parquet('/etc/*.parquet')", "Permission Error"),
    "glob": ("SELECT * FROM glob('/root/*')", "Permission Error"),
    "ATTACH": ("ATTACH '{tmp}/db.duckdb' AS d", "only SELECT queries are run, not ATTACH"),
    "INSTALL": ("INSTALL httpfs", "only SELECT queries are run"),
    "LOAD": ("LOAD httpfs", "only SELECT queries are run, not LOAD"),
    "SET": ("SET enable_external_access = true", "only SELECT queries are run"),
    "CREATE": ("CREATE TABLE t AS SELECT * FROM predictions", "only SELECT queries are run, not CREATE"),
    "two statements": ("SELECT 1; COPY (SELECT 1) TO '{tmp}/x.csv'", "give one SQL statement, not 2"),
    "in a subquery": ("SELECT (SELECT count(*) FROM read_text('{tmp}/secret.txt'))", "Permission Error"),
    "EXPLAIN ANALYZE": ("EXPLAIN ANALYZE SELECT * FROM read_text('/etc/hostname')", "Permission Error"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_reads_writes_and_statements_outside_the_predictions_are_refused(output, tmp_path, capsys, case):
    sql, message = REFUSED[case]
    code, out, err = query(capsys, output, sql.format(tmp=tmp_path))
    line = assert_one_line_error(code, err, 2, message)
    assert out == "" and "--unrestricted lifts this" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "secret.txt"]  # nothing written


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


def test_remote_outputs_are_queried_through_fsspec_and_sandboxed(s3_endpoint, capsys):
    layout = Layout(s3_endpoint.uri("out"))
    write_partition(layout.run("r1"), 3, fake_batches(70, 70, 3), "e" * 64)
    code, out, err = query(capsys, layout.output, "SELECT seed, count(*) AS n FROM predictions GROUP BY seed")
    assert code == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [{"seed": 3, "n": 70}]
    marker = f"{layout.output}/predictions/run_id=r1/seed=3/_COMMITTED.json"
    code, _, err = query(capsys, layout.output, f"SELECT * FROM read_text('{marker}')")
    assert_one_line_error(code, err, 2, "Permission Error")
