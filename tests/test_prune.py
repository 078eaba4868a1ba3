"""`lenet-batch prune` on a local output: what goes and what stays, the protected nights' files, --dry-run
writing nothing, the history rewritten, a prune stopped halfway finished by the next, refusals, and every
reader still reading a pruned output. (On S3: tests/test_prune_s3.py; who may run beside it:
tests/test_prune_guard.py.)"""

import json
import os
import stat

import pyarrow.parquet as pq
import pytest

from lenet_batch import cli
from lenet_batch.errors import StorageError
from lenet_batch.pipeline import prune_files
from lenet_batch.pipeline.prune import prune
from lenet_batch.provenance import now_utc
from lenet_batch.state.run_state import empty_state
from lenet_batch.store import hand_writers, storage, writers
from lenet_batch.store.layout import Layout
from lenet_batch.summary import baseline
from tests.prune_helpers import files_of, full_nights, kept_only, night_files, run_json


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """`lenet-batch ARGV` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: str) -> dict[str, tuple[int, int, int]]:
    """Every file and folder under a local folder: (mode, size, mtime_ns)."""
    found = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            st = os.lstat(os.path.join(root, name))
            found[os.path.relpath(os.path.join(root, name), folder)] = (
                st.st_mode,
                st.st_size,
                st.st_mtime_ns,
            )
    return found


@pytest.fixture
def output(tmp_path, monkeypatch) -> str:
    """Five nights, the newest failed; reference window 1 (the next night's reference is no old night)."""
    monkeypatch.setenv("LENET_BATCH_REFERENCE_WINDOW", "1")
    out = str(tmp_path / "out")
    full_nights(out, 5, {4: "failed"})
    return out


def test_old_nights_lose_predictions_models_and_logs_and_keep_their_records(output, capsys):
    before = files_of(output)
    code, out, err = run(capsys, "prune", "--output", output, "--keep", "2")
    assert code == 0, err
    after = files_of(output)
    for rid in ("2026-01-01", "2026-01-02", "2026-01-03"):
        left = night_files(after, rid)
        assert kept_only(left) and left < night_files(before, rid), rid
        assert not any("model.params" in f or "/logs/" in f or "checkpoint" in f for f in left)
        gone = sum(before[f] for f in night_files(before, rid) - left)
        pruning = run_json(output, rid)["pruning"]
        assert pruning["finished_at"] and pruning["keep"] == "2" and pruning["bytes"] == gone
    for rid in ("2026-01-04", "2026-01-05"):
        assert (
            night_files(after, rid) == night_files(before, rid)
            and run_json(output, rid).get("pruning") is None
        )
    assert not os.path.exists(os.path.join(output, hand_writers.MARKERS)), "its mark is gone"
    assert out.count(" prune ") == 3 and "pruned 3 night(s)" in out and "history: " in out


def test_a_dry_run_lists_what_would_go_and_writes_nothing(output, capsys):
    before, files = snapshot(output), files_of(output)
    code, out, _ = run(capsys, "prune", "--output", output, "--keep", "2", "--dry-run", "--json")
    assert code == 0 and snapshot(output) == before
    doc = json.loads(out)
    going = [n for n in doc["nights"] if n["action"] == "prune"]
    assert doc["dry_run"] and [n["run_id"] for n in going] == ["2026-01-03", "2026-01-02", "2026-01-01"]
    code, _, _ = run(capsys, "prune", "--output", output, "--keep", "2", "--dry-run")
    assert code == 0 and snapshot(output) == before
    prune(Layout(output), "2", window=1)
    removed = {f: size for f, size in files.items() if f not in files_of(output)}
    assert doc["bytes"] == sum(removed.values()) == sum(n["bytes"] for n in going)
    assert sum(n["files"] for n in going) == len(removed)


# (keep, reference window, what is done first, the night keeping every file); five nights, the newest failed
PROTECTED = {
    "newest": ("1d", 1, None, "2026-01-05"),
    "next baseline": ("1", 1, None, "2026-01-04"),
    "next reference": ("1", 7, None, "2026-01-01"),
    "accepted": ("1", 1, "accept", "2026-01-02"),
    "hand writer": ("1", 1, "mark", "2026-01-02"),
}


@pytest.mark.parametrize("member", PROTECTED)
def test_a_protected_night_keeps_every_file(output, member):
    keep, window, first, rid = PROTECTED[member]
    layout = Layout(output)
    if first == "accept":
        doc = run_json(output, rid) | {"acceptance": {"reason": "new data", "by": "u@h", "at": "2026-01-03"}}
        storage.write_json_atomic(layout.run(rid).run_json, doc)
    if first == "mark":  # a hand `infer` of that night, live
        mark = writers.this_process(
            hand_writers.WriterMark, command="infer", run_id=rid, started_at=now_utc()
        )
        storage.write_json_atomic(hand_writers.marker_uri(layout, mark), mark.to_json())
    before = files_of(output)
    result = prune(layout, keep, window=window)
    fate = next(n for n in result.nights if n.run_id == rid)
    assert fate.action == "protected" and result.pruned >= 1
    after = files_of(output)
    assert (
        night_files(after, rid) == night_files(before, rid) and run_json(output, rid).get("pruning") is None
    )
    assert any(kept_only(night_files(after, n.run_id)) for n in result.nights if n.action == "prune")


def test_the_history_is_rewritten_with_the_pruned_nights_marked_and_their_outcomes_unchanged(output, capsys):
    assert run(capsys, "history", "--output", output)[0] == 0
    table = os.path.join(output, "history", "runs.parquet")
    states = {r["run_id"]: r["run_state"] for r in pq.read_table(table).to_pylist()}
    assert run(capsys, "prune", "--output", output, "--keep", "2")[0] == 0
    rows = pq.read_table(table).to_pylist()
    assert {r["run_id"]: r["run_state"] for r in rows} == states
    pruned = {r["run_id"] for r in rows if r["pruned_at"] is not None}
    assert pruned == {"2026-01-01", "2026-01-02", "2026-01-03"}
    with open(os.path.join(output, "history", "history.html")) as f:
        assert f.read().count("; pruned 2026-") == 3


def _stops_after_markers(exc: BaseException):
    """A remove that takes the partitions' markers, then stops as a crash, a signal or a store would."""
    original = prune_files.remove

    def remove(run, doomed):
        markers = {
            u: {p: s for p, s in f.items() if p.endswith("_COMMITTED.json")} for u, f in doomed.found.items()
        }
        original(run, prune_files.Doomed(markers))
        raise exc

    return remove


@pytest.mark.parametrize("exc", [RuntimeError("a bug"), KeyboardInterrupt(), StorageError("s3: timed out")])
def test_a_prune_stopped_halfway_is_finished_by_the_next(output, capsys, monkeypatch, exc):
    before = files_of(output)
    monkeypatch.setattr(prune_files, "remove", _stops_after_markers(exc))
    with pytest.raises(type(exc)):
        prune(Layout(output), "2", window=1)
    monkeypatch.undo()
    stopped = run_json(output, "2026-01-03")["pruning"]
    assert stopped["started_at"] and stopped["finished_at"] is None
    for rid in ("2026-01-01", "2026-01-02"):  # not reached: untouched
        assert run_json(output, rid).get("pruning") is None and night_files(
            files_of(output), rid
        ) == night_files(before, rid)
    code, out, _ = run(capsys, "runs", "--output", output)
    assert code == 0 and "pruning stopped: the next prune finishes it" in out
    result = prune(Layout(output), "100", window=1)  # every night is within the window now: it is finished
    assert [(n.run_id, n.action) for n in result.nights if n.goes] == [("2026-01-03", "finish")]
    assert kept_only(night_files(files_of(output), "2026-01-03")) and result.history
    assert run_json(output, "2026-01-03")["pruning"]["finished_at"]


def test_every_reader_still_reads_a_pruned_output(output, capsys):
    def read() -> tuple:
        rows = json.loads(run(capsys, "runs", "--output", output, "--json")[1])
        check = run(capsys, "check", "--output", output, "--json")
        found = baseline.previous(empty_state(Layout(output).run("2027-01-01")), window=7)
        query = run(
            capsys,
            "query",
            "--output",
            output,
            "SELECT run_id, count(*) AS n FROM predictions GROUP BY run_id",
        )
        return rows, check[0], json.loads(check[1])["state"], (found.run_id, found.reference), query

    rows, *rest, query = read()
    assert run(capsys, "prune", "--output", output, "--keep", "2")[0] == 0
    rows_after, *rest_after, query_after = read()
    assert rest_after == rest and query_after[0] == 0
    assert [r["outcome"] for r in rows_after] == [r["outcome"] for r in rows]
    assert [bool(r["pruned"]) for r in rows_after] == [False, False, True, True, True]
    assert "2026-01-05" in query_after[1] and "2026-01-01" not in query_after[1]
    code, out, _ = run(capsys, "runs", "--output", output)
    assert code == 0 and out.splitlines()[0].endswith("note") and out.count("pruned 2026-") == 3
    before = snapshot(output)
    code, _, err = run(capsys, "summary", "--output", output, "--run", "2026-01-02")
    assert code == 2 and "run 2026-01-02 was pruned" in err and len(err.strip().splitlines()) == 1
    assert snapshot(output) == before


@pytest.mark.parametrize("keep", ["0", "-1", "90x", "99999999999999999999", "0d", "100001"])
def test_a_bad_keep_is_refused_in_one_line_writing_nothing(output, capsys, keep):
    before = snapshot(output)
    code, out, err = run(capsys, "prune", "--output", output, "--keep", keep)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--keep" in err
    assert snapshot(output) == before


def test_an_output_that_does_not_exist_is_refused_and_not_made(tmp_path, capsys):
    missing = tmp_path / "nothing-here"
    code, _, err = run(capsys, "prune", "--output", str(missing), "--keep", "30")
    assert code == 2 and "not found" in err and len(err.strip().splitlines()) == 1
    assert not missing.exists()


def test_a_link_in_a_pruned_night_goes_and_what_it_points_at_stays(output, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.bin").write_bytes(b"keep me")
    logs = Layout(output).run("2026-01-01").logs_dir
    os.symlink(precious, os.path.join(logs, "linked"))
    os.mkfifo(os.path.join(logs, "a-fifo"))
    prune(Layout(output), "2", window=1)
    assert (precious / "data.bin").read_bytes() == b"keep me" and not os.path.lexists(logs)
    assert stat.S_ISDIR(os.lstat(precious).st_mode)
