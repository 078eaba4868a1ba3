"""SQL and pyarrow.dataset over the committed predictions: partition filters, committed files only, errors."""

import json
import os
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from lenet_batch.errors import ConfigError, DataError, StorageError
from lenet_batch.history.stage import build_history
from lenet_batch.scoring.committed import committed_partitions, predictions_dataset, read_predictions
from lenet_batch.scoring.partitions import write_partition
from lenet_batch.scoring.query import run_query
from lenet_batch.store.layout import Layout
from tests import helpers
from tests.history_helpers import write_synthetic_runs
from tests.prediction_helpers import fake_batches

# (run, seed) -> rows: distinct counts, so a wrong filter shows in the numbers. The run ids look like dates
# on purpose (they must stay strings).
PARTITIONS = {("2026-11-26", 0): 120, ("2026-11-26", 1): 130, ("2026-11-27", 0): 210, ("2026-11-27", 2): 220}


@pytest.fixture
def output(tmp_path) -> str:
    """Predictions of two runs committed under tmp_path (fake rows: no model needed)."""
    layout = Layout(str(tmp_path))
    for (run_id, seed), rows in PARTITIONS.items():
        write_partition(layout.run(run_id), seed, fake_batches(rows, 50, seed), "e" * 64)
    return str(tmp_path)


def test_duckdb_counts_per_partition_with_typed_partition_columns(output):
    table = run_query(
        "SELECT run_id, seed, count(*) AS n FROM predictions GROUP BY ALL ORDER BY ALL", Layout(output)
    )
    assert table.schema.field("run_id").type == pa.string() and table.schema.field("seed").type == pa.int64()
    assert [(r["run_id"], r["seed"], r["n"]) for r in table.to_pylist()] == [
        (r, s, n) for (r, s), n in PARTITIONS.items()
    ]


@pytest.mark.parametrize(
    "where, rows, distinct_ids",
    [
        ("run_id = '2026-11-27'", 430, 220),
        ("seed = 0", 330, 210),
        ("run_id = '2026-11-26' AND seed = 1", 130, 130),
        ("run_id = '2026-11-27' AND seed = 1", 0, 0),
    ],
)
def test_duckdb_partition_filters_return_the_right_rows(output, where, rows, distinct_ids):
    sql = f"SELECT count(*) AS n, count(DISTINCT sample_id) AS ids FROM predictions WHERE {where}"
    assert run_query(sql, Layout(output)).to_pylist() == [{"n": rows, "ids": distinct_ids}]


def test_run_id_argument_limits_the_view_to_one_run(output):
    table = run_query(
        "SELECT DISTINCT run_id, seed FROM predictions ORDER BY seed", Layout(output), run_id="2026-11-26"
    )
    assert table.to_pylist() == [{"run_id": "2026-11-26", "seed": 0}, {"run_id": "2026-11-26", "seed": 1}]


def test_query_accuracy_matches_the_rows(output):
    table = run_query(
        "SELECT seed, avg(correct::int) AS acc, sum(correct::int) AS ok, count(*) AS n "
        "FROM predictions WHERE run_id = '2026-11-27' GROUP BY seed ORDER BY seed",
        Layout(output),
    )
    expected = read_predictions(Layout(output), "2026-11-27")
    for row in table.to_pylist():
        part = expected.filter(pc.equal(expected["seed"], row["seed"]))
        assert row["ok"] == sum(part["correct"].to_pylist()) and row["n"] == part.num_rows


def test_pyarrow_dataset_with_partition_filters(output):
    dataset = predictions_dataset(Layout(output))
    assert (
        dataset.schema.field("run_id").type == pa.string() and dataset.schema.field("seed").type == pa.int64()
    )
    assert dataset.count_rows() == sum(PARTITIONS.values())
    both = (ds.field("run_id") == "2026-11-27") & (ds.field("seed") == 2)
    assert dataset.count_rows(filter=both) == 220
    assert dataset.count_rows(filter=ds.field("seed") == 0) == 330
    # A plain hive dataset over the folder (what users point other tools at) skips staging and markers.
    plain = ds.dataset(Layout(output).predictions_root(), format="parquet", partitioning="hive")
    assert plain.count_rows(filter=ds.field("run_id") == "2026-11-26") == 250


def test_only_committed_partitions_are_queried(output):
    layout = Layout(output)
    # A partition folder whose file has no marker (e.g. copied in by hand, or a commit that never finished).
    stray = Path(layout.run("2026-11-27").partition_dir(9))
    stray.mkdir(parents=True)
    shutil.copy(
        Path(layout.run("2026-11-27").partition_dir(0)) / "part-00000.parquet", stray / "part-00000.parquet"
    )
    table = run_query(
        "SELECT DISTINCT seed FROM predictions WHERE run_id = '2026-11-27' ORDER BY seed", layout
    )
    assert table["seed"].to_pylist() == [0, 2]
    assert [p[:2] for p in committed_partitions(layout, "2026-11-27")] == [
        ("2026-11-27", 0),
        ("2026-11-27", 2),
    ]


def test_the_readme_snippets_work_on_the_layout(output):
    root = Layout(output).predictions_root()
    rows = duckdb.sql(
        f"SELECT seed, avg(correct::int), count(*) FROM read_parquet('{root}/**/*.parquet', "
        "hive_partitioning=true) WHERE run_id = '2026-11-26' GROUP BY seed ORDER BY seed"
    ).fetchall()
    assert [(seed, n) for seed, _, n in rows] == [(0, 120), (1, 130)]
    t = ds.dataset(root, format="parquet", partitioning="hive")
    by_seed = (
        t.to_table(filter=ds.field("run_id") == "2026-11-26", columns=["seed", "correct"])
        .group_by("seed")
        .aggregate([("correct", "mean")])
        .sort_by("seed")
    )
    assert by_seed["seed"].to_pylist() == [0, 1]
    assert by_seed["correct_mean"].to_pylist() == pytest.approx([acc for _, acc, _ in rows])
    df = pd.read_parquet(root, filters=[("run_id", "=", "2026-11-26")], columns=["seed", "correct"])
    # seed comes back categorical over every run's seeds: observed=True keeps only this run's.
    assert df.groupby("seed", observed=True)["correct"].mean().tolist() == pytest.approx(
        [a for _, a, _ in rows]
    )


def test_the_query_command_prints_rows_as_json_lines(output):
    sql = "SELECT seed, count(*) AS n FROM predictions GROUP BY seed ORDER BY seed"
    result = helpers.run_cli(
        "query", sql, "--output", output, "--run-id", "2026-11-27", "--json", timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"seed": 0, "n": 210},
        {"seed": 2, "n": 220},
    ]
    bad = helpers.run_cli("query", "SELEC 1", "--output", output, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "Parser Error" in bad.stderr


@pytest.mark.parametrize(
    "sql, match",
    [
        ("SELEC 1", "query: Parser Error"),
        ("SELECT * FROM nowhere", "query: Catalog Error"),
        ("SELECT no_such_column FROM predictions", "query: Binder Error"),
        ("   ", "the SQL is empty"),
    ],
)
def test_bad_sql_is_a_one_line_config_error(output, sql, match):
    with pytest.raises(ConfigError, match=match) as err:
        run_query(sql, Layout(output))
    assert "\n" not in str(err.value) and err.value.exit_code == 2


def test_no_committed_predictions_is_a_clear_error(tmp_path, output):
    with pytest.raises(
        DataError, match="no committed predictions for any run under .*; run `lenet-batch infer`"
    ):
        run_query("SELECT count(*) FROM predictions", Layout(str(tmp_path / "empty")))
    with pytest.raises(DataError, match="no committed predictions for run 1999-01-01"):
        run_query("SELECT * FROM predictions p", Layout(output), run_id="1999-01-01")
    # A query naming no view needs neither.
    assert run_query("SELECT 1 AS one", Layout(str(tmp_path / "empty"))).to_pylist() == [{"one": 1}]


# --- the `runs` view: history/runs.parquet, one row per (run, seed) -----------------------------------------


@pytest.fixture
def history(tmp_path) -> str:
    """Three synthetic nights of two seeds (the last regressed), their runs.parquet, and the first night's
    predictions for its two seeds."""
    out = str(tmp_path / "out")
    nights = write_synthetic_runs(out, 3, 2, {2: "regressed"})
    build_history(Layout(out))
    for seed, rows in ((0, 40), (1, 50)):
        write_partition(Layout(out).run(nights[0]), seed, fake_batches(rows, 20, seed), "e" * 64)
    return out


def test_the_runs_view_is_runs_parquet(history):
    table = run_query("SELECT * FROM runs", Layout(history))
    on_disk = pq.read_table(Path(history) / "history" / "runs.parquet")
    assert table.column_names == on_disk.column_names and table.num_rows == on_disk.num_rows == 6
    order = [("run_id", "ascending"), ("seed", "ascending")]
    # DuckDB hands timestamps back in microseconds: the same instants.
    assert table.sort_by(order).equals(on_disk.cast(table.schema).sort_by(order))
    typed = run_query("SELECT DISTINCT typeof(run_id) AS t FROM runs", Layout(history))
    assert typed.to_pylist() == [{"t": "VARCHAR"}]  # a date-shaped run id stays a string


def test_run_id_limits_the_runs_view_too(history):
    nights = sorted({r["run_id"] for r in run_query("SELECT run_id FROM runs", Layout(history)).to_pylist()})
    table = run_query(
        "SELECT DISTINCT run_id, seed FROM runs ORDER BY seed", Layout(history), run_id=nights[1]
    )
    assert table.to_pylist() == [{"run_id": nights[1], "seed": 2}, {"run_id": nights[1], "seed": 3}]


def test_the_two_views_join_on_run_and_seed(history):
    sql = (
        "SELECT p.seed, count(*) AS n, any_value(r.epochs) AS epochs FROM predictions p "
        "JOIN runs r USING (run_id, seed) GROUP BY p.seed ORDER BY p.seed"
    )
    assert run_query(sql, Layout(history)).to_pylist() == [
        {"seed": 0, "n": 40, "epochs": 10},
        {"seed": 1, "n": 50, "epochs": 10},
    ]


def test_a_view_whose_files_are_missing_says_so_and_the_other_still_works(output, history):
    with pytest.raises(
        DataError, match=r"no .*/history/runs\.parquet yet: a nightly or `lenet-batch history`"
    ):
        run_query("SELECT count(*) FROM runs", Layout(output))
    assert run_query("SELECT count(*) AS n FROM predictions", Layout(output)).to_pylist() == [{"n": 680}]
    shutil.rmtree(Path(history) / "predictions")
    assert run_query("SELECT count(*) AS n FROM runs", Layout(history)).to_pylist() == [{"n": 6}]
    with pytest.raises(DataError, match="no committed predictions for any run"):
        run_query("SELECT count(*) FROM Predictions", Layout(history))


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _loop(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.name)


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


@pytest.mark.parametrize(
    "make, message",
    [
        (_folder, "runs.parquet: is a folder, not a file"),
        (_fifo, "runs.parquet: not a regular file (a device, FIFO or socket)"),
        (_dev_zero, "runs.parquet: not a regular file (a device, FIFO or socket)"),
        (_loop, "runs.parquet: a symlink loop"),
    ],
)
def test_a_runs_parquet_that_is_not_a_file_is_one_line_at_once(history, make, message):
    make(Path(history) / "history" / "runs.parquet")
    with pytest.raises(StorageError, match=re.escape(message)) as err:
        run_query("SELECT count(*) FROM predictions", Layout(history), timeout=30)
    assert "\n" not in str(err.value) and err.value.exit_code == 2
