"""`prune` on S3 (moto's server on loopback) as on a local folder: a dry run writes nothing, old nights lose
their predictions, models and logs and keep their records, protected ones keep everything, the history is
rewritten, and a prune stopped halfway is finished by the next."""

import io
import json

import pyarrow.parquet as pq
import pytest

from lenet_batch import cli
from lenet_batch.pipeline import prune_files
from lenet_batch.pipeline.prune import prune
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout
from tests.prune_helpers import files_of, full_nights, kept_only, night_files, run_json


@pytest.fixture
def output(s3_endpoint, monkeypatch) -> str:
    """Five nights on S3, the newest failed; reference window 1."""
    monkeypatch.setenv("LENET_BATCH_REFERENCE_WINDOW", "1")
    uri = s3_endpoint.uri("lenet")
    full_nights(uri, 5, {4: "failed"})
    return uri


def objects(uri: str) -> dict[str, tuple]:
    """Every object under the URI: (size, ETag, LastModified)."""
    fs, root = storage.get_fs(uri)
    fs.invalidate_cache()
    return {
        p: (i["size"], i.get("ETag"), i.get("LastModified")) for p, i in fs.find(root, detail=True).items()
    }


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_prune_on_s3_goes_as_locally_and_its_dry_run_writes_nothing(output, capsys):
    before, files = objects(output), files_of(output)
    code, out, _ = run(capsys, "prune", "--output", output, "--keep", "1", "--dry-run", "--json")
    assert code == 0 and objects(output) == before
    planned = {n["run_id"]: n for n in json.loads(out)["nights"]}
    code, out, err = run(capsys, "prune", "--output", output, "--keep", "1")
    assert code == 0, err
    after = files_of(output)
    assert planned["2026-01-04"]["action"] == "protected"  # the baseline of the next night
    assert night_files(after, "2026-01-04") == night_files(files, "2026-01-04")
    for rid in ("2026-01-01", "2026-01-02", "2026-01-03"):
        left = night_files(after, rid)
        assert kept_only(left), rid
        assert planned[rid]["bytes"] == sum(files[f] for f in night_files(files, rid) - left)
        assert run_json(output, rid)["pruning"]["finished_at"]
    assert not any(f.startswith("_writers/") for f in after)
    fs, root = storage.get_fs(output)
    table = pq.read_table(io.BytesIO(fs.cat(f"{root}/history/runs.parquet")))
    assert {r["run_id"] for r in table.to_pylist() if r["pruned_at"]} == {
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
    }


def test_a_prune_stopped_halfway_on_s3_is_finished_by_the_next(output, monkeypatch):
    original = prune_files.remove

    def stops(run, doomed):
        original(run, prune_files.Doomed(dict(list(doomed.found.items())[:1])))
        raise KeyboardInterrupt

    monkeypatch.setattr(prune_files, "remove", stops)
    with pytest.raises(KeyboardInterrupt):
        prune(Layout(output), "1", window=1)
    monkeypatch.undo()
    assert run_json(output, "2026-01-03")["pruning"]["finished_at"] is None
    assert run_json(output, "2026-01-02").get("pruning") is None
    result = prune(Layout(output), "1", window=1)
    assert [(n.run_id, n.action) for n in result.nights if n.goes] == [
        ("2026-01-03", "finish"),
        ("2026-01-02", "prune"),
        ("2026-01-01", "prune"),
    ]
    after = files_of(output)
    assert all(kept_only(night_files(after, r)) for r in ("2026-01-01", "2026-01-02", "2026-01-03"))
