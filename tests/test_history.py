"""`lenet-batch runs` and `history` over synthetic nights: the table, runs.parquet, trend PNGs, the page."""

import base64
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from lenet_batch.errors import StorageError
from lenet_batch.history import runs_table
from lenet_batch.history import stage as history_stage
from lenet_batch.pipeline import history_step
from lenet_batch.pipeline.owner import RunOwner
from lenet_batch.state.listing import Nights
from lenet_batch.state.run_state import read_state
from lenet_batch.store import record_reads, storage
from lenet_batch.store.layout import Layout
from tests import helpers, readme
from tests.history_helpers import marks, read_png, run_id, write_synthetic_runs

NIGHTS, SEEDS = 7, 3
KINDS = {2: "regressed", 4: "failed", 6: "incomplete"}
EXPECTED_STATES = ["ok", "ok", "regressed", "ok", "failed", "ok", "failed"]  # oldest first, as marked


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    """Seven synthetic nights (one regressed, one failed, one incomplete) and their history, built once."""
    folder = tmp_path_factory.mktemp("history")
    write_synthetic_runs(str(folder), NIGHTS, SEEDS, KINDS)
    result = helpers.run_cli("history", "--output", str(folder))
    assert result.returncode == 0, result.stderr[-2000:]
    return folder


def test_runs_lists_every_night_newest_first_with_its_verdict(output):
    result = helpers.run_cli("runs", "--output", str(output))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["run_id", "created", "train"]
    assert [line.split()[0] for line in lines[1 : NIGHTS + 1]] == [run_id(k) for k in reversed(range(NIGHTS))]
    by_id = {line.split()[0]: line for line in lines[1 : NIGHTS + 1]}
    assert "regressed vs 2026-01-02" in by_id[run_id(2)]
    assert "passed vs 2026-01-02" in by_id[run_id(3)]  # the regressed night is not a baseline
    assert "2+1 failed" in by_id[run_id(4)] and by_id[run_id(4)].rstrip().endswith("seeds_failed")
    assert by_id[run_id(0)].rstrip().endswith("n/a")
    assert (
        lines[-1]
        == f"{run_id(6)}: failed: infer did not finish (no status recorded) and no nightly holds the lock"
    )


def test_runs_json_and_last(output):
    result = helpers.run_cli("runs", "--output", str(output), "--json", "--last", "3")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout)
    assert [r["run_id"] for r in rows] == [run_id(6), run_id(5), run_id(4)]
    five = rows[1]
    assert five["verdict"] == "passed" and five["baseline_run_id"] == run_id(3) and five["seeds_ok"] == SEEDS
    assert five["ci95_low"] < five["mean_accuracy"] < five["ci95_high"]
    assert five["gate"].startswith(f"gate: passed — baseline {run_id(3)}: mean ")
    assert "Welch one-sided t-test" in five["gate"]
    four = rows[2]
    assert four["outcome"] == "seeds_failed" and helpers.stage_status(four, "train") == "failed"
    assert len(four["failed_seeds"]) == 1 and four["stage"] == "train"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["runs", "--output", "/nonexistent/lenet-output"], "--output /nonexistent/lenet-output: not found"),
        (
            ["history", "--output", "/nonexistent/lenet-output"],
            "--output /nonexistent/lenet-output: not found",
        ),
        (["runs", "--output", ".", "--last", "0"], "--last: '0' must be at least 1"),
        (["runs", "--output", ".", "--last", "x"], "--last: 'x' is not a whole number"),
    ],
)
def test_bad_output_or_last_is_one_line_and_exit_2(argv, message):
    result = helpers.run_cli(*argv)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_runs_parquet_has_one_row_per_run_and_seed_with_the_schema(output):
    table = pq.read_table(output / "history" / "runs.parquet")
    assert table.schema.remove_metadata().equals(runs_table.SCHEMA)
    assert table.num_rows == NIGHTS * SEEDS
    rows = table.to_pylist()
    night2 = [r for r in rows if r["run_id"] == run_id(2)]
    assert {r["gate_verdict"] for r in night2} == {"regressed"} and all(
        r["gate_p_value"] < 0.01 for r in night2
    )
    assert {r["seed_status"] for r in rows if r["run_id"] == run_id(4)} == {"failed", "pending"}
    assert all(r["test_accuracy"] is not None for r in rows if r["seed_status"] == "ok")
    assert {r["lr"] for r in rows} == {0.1} and {r["mxnet_version"] for r in rows} == {"1.9.1"}
    assert len({r["data_digest"] for r in rows}) == 1


def test_duckdb_answers_accuracy_by_night_and_which_nights_regressed(output):
    path = output / "history" / "runs.parquet"
    con = duckdb.connect()
    types = dict(
        con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{path}')").fetchall()
    )
    assert types["run_id"] == "VARCHAR" and types["seed"] == "BIGINT"  # no hive_types needed
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    by_night_sql, regressed_sql = readme_history_queries(path)
    by_night = con.execute(by_night_sql).fetchall()
    assert [r[0] for r in by_night] == [run_id(k) for k in range(NIGHTS)]
    summary = json.loads((output / "runs" / run_id(1) / "summary" / "summary.json").read_text())
    assert by_night[1][1] == pytest.approx(summary["across_seeds"]["mean"]) and by_night[1][2] == SEEDS
    regressed = con.execute(regressed_sql).fetchall()
    assert [r[0] for r in regressed] == [run_id(2)] and regressed[0][3] == run_id(1)
    assert regressed[0][1] < 0.01 and regressed[0][2] < 0


def readme_history_queries(path: Path) -> list[str]:
    """The README's two DuckDB queries on runs.parquet ("accuracy by night", "which nights regressed")."""
    block = readme.block("history-sql").replace("runs/history/runs.parquet", str(path))
    lines = [line for line in block.splitlines() if not line.startswith("--")]
    return [q.strip() for q in "\n".join(lines).split(";") if q.strip()]


def test_trend_png_has_one_mark_per_night_coloured_by_state(output):
    nights, legend = marks(read_png((output / "history" / "accuracy_trend.png").read_bytes()))
    assert nights == EXPECTED_STATES  # left to right: oldest night first, failed/incomplete marked
    assert legend == ["failed", "ok", "regressed"]


def test_per_class_heatmap_leaves_nights_without_a_summary_grey(output):
    pixels = read_png((output / "history" / "per_class_trend.png").read_bytes())
    grey = (np.abs(pixels[..., :3] - 0.85) < 0.01).all(axis=-1)
    columns = grey.sum(axis=0) > 100  # a night's column is grey over all ten classes
    runs_of_grey = np.count_nonzero(np.diff(columns.astype(int)) == 1)
    assert runs_of_grey == 2  # night 4 (failed) and night 6 (incomplete)


def test_history_html_is_self_contained_and_links_only_existing_reports(output):
    page = (output / "history" / "history.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    images = [r for r in refs if r.startswith("data:image/")]
    links = [r for r in refs if not r.startswith(("data:", "#"))]
    assert len(images) == 2
    for uri in images:
        read_png(base64.b64decode(uri.split(",", 1)[1]))
    assert all((output / "history" / link).resolve().is_file() for link in links)
    reports = [link for link in links if link.endswith("report.html")]
    assert {link for link in links if link not in reports} == {"accuracy_trend.png", "per_class_trend.png"}
    linked = {link.split("/")[2] for link in reports}
    assert linked == {run_id(k) for k in range(NIGHTS) if KINDS.get(k) in (None, "regressed")}
    assert re.search(rf'<tr class="regressed"[^>]*><td class="nowrap"><a [^>]*>{run_id(2)}</a>', page)
    assert re.search(rf'<tr class="seeds_failed"[^>]*><td class="nowrap">{run_id(4)}</td>', page)
    assert re.search(rf'<tr class="failed"[^>]*><td class="nowrap">{run_id(6)}</td>', page)


def test_runs_reads_only_run_json_and_summary_json(output, monkeypatch):
    read = []
    real = record_reads.read_small_many

    def recording(uris, options=None):
        read.extend(uris)
        return real(uris, options)

    monkeypatch.setattr(record_reads, "read_small_many", recording)
    monkeypatch.setattr(storage, "read_bytes", lambda *a, **k: pytest.fail(f"read_bytes{a}"))
    rows = history_stage.list_runs(Layout(str(output)))
    assert len(rows) == NIGHTS and len(read) == 2 * NIGHTS
    assert {Path(u).name for u in read} == {"run.json", "summary.json"}


def test_an_unreadable_summary_marks_the_night_and_keeps_the_others(tmp_path):
    write_synthetic_runs(str(tmp_path), 3, 2)
    (tmp_path / "runs" / run_id(1) / "summary" / "summary.json").write_text("[1, 2")
    result = helpers.run_cli("runs", "--output", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {r["run_id"]: r for r in json.loads(result.stdout)}
    assert rows[run_id(1)]["outcome"] == "damaged" and "not valid JSON" in rows[run_id(1)]["problems"][0]
    assert rows[run_id(2)]["outcome"] == "ok" and "summary.json: not valid JSON" in result.stderr
    assert helpers.run_cli("history", "--output", str(tmp_path)).returncode == 0


def test_history_at_a_larger_scale(tmp_path):
    kinds = {k: "regressed" for k in range(10, 120, 17)} | {k: "failed" for k in range(5, 120, 29)}
    write_synthetic_runs(str(tmp_path), 120, 8, kinds)
    result = history_stage.build_history(Layout(str(tmp_path)))
    assert result.runs == 120 and result.seed_rows == 120 * 8
    table = pq.read_table(tmp_path / "history" / "runs.parquet")
    assert table.num_rows == 960 and len(set(table.column("run_id").to_pylist())) == 120
    # ok nights' marks touch at this density; the marked ones stand alone among them
    nights, _ = marks(read_png((tmp_path / "history" / "accuracy_trend.png").read_bytes()))
    outcomes = [row.outcome for row in history_stage.list_runs(Layout(str(tmp_path)))]
    regressed = outcomes.count("regressed")  # the kinds asked for, and nights the real gate found so
    assert regressed >= len(range(10, 120, 17)) and nights.count("regressed") == regressed
    assert nights.count("failed") == sum(o not in ("ok", "regressed") for o in outcomes) == 4


def test_history_on_s3(s3_endpoint):
    output = s3_endpoint.uri("lenet")
    write_synthetic_runs(output, 4, 2, {2: "failed"})
    runs = helpers.run_cli("runs", "--output", output, "--json")
    assert runs.returncode == 0, runs.stderr[-2000:]
    assert [r["run_id"] for r in json.loads(runs.stdout)] == [run_id(k) for k in (3, 2, 1, 0)]
    built = helpers.run_cli("history", "--output", output)
    assert built.returncode == 0, built.stderr[-2000:]
    assert f"report: {output}/history/history.html" in built.stdout
    fs, _ = storage.get_fs(output)
    with fs.open(f"{s3_endpoint.bucket}/lenet/history/runs.parquet", "rb") as f:
        assert pq.read_table(f).num_rows == 4 * 2
    page = storage.read_bytes(f"{output}/history/history.html").decode()
    for link in re.findall(r'href="(\.\./[^"]*)"', page):
        assert storage.exists(f"{output}/history/{link}".replace("/history/../", "/")), link
    for name in ("accuracy_trend.png", "per_class_trend.png"):
        assert storage.read_bytes(f"{output}/history/{name}").startswith(b"\x89PNG")


def test_a_good_night_whose_history_cannot_be_written_fails_saying_the_run_completed(tmp_path, caplog):
    write_synthetic_runs(str(tmp_path), 2, 2)
    (tmp_path / "history").write_text("a file where the history folder should be")
    owner = RunOwner(read_state(Layout(str(tmp_path)).run(run_id(1))))
    with pytest.raises(StorageError) as caught:
        history_step.after_success(owner, Nights(owner.run.layout, skip=owner.run.run_id))
    message = str(caught.value)
    assert message.startswith(f"run {run_id(1)} completed (gate: passed; report: ")
    assert "but the history was not written" in message and "lenet-batch history --output" in message
    assert not (tmp_path / "_last_success.json").exists()  # no heartbeat: the night did not succeed
    assert (
        history_step.after_failure(owner, Nights(owner.run.layout, skip=owner.run.run_id)) is None
    )  # after a failed night: logged, its error stands
    assert "was not rebuilt after the failed night" in caplog.text
