"""Outputs with one damaged run among healthy ones, and the listing commands run on them in this process.

The nights are tests/history_helpers.py's synthetic records (three ok nights, dates 2026-01-01..03); a test
damages one of them and asks `runs`, `runs --json`, `history` and `check` what they make of it.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from lenet_batch import cli
from lenet_batch.state.outcome import OUTCOMES
from tests.history_helpers import run_id, write_synthetic_runs

NIGHTS = 3
DAMAGED = run_id(1)  # the middle night: the newest and the oldest stay healthy
HEALTHY = [run_id(k) for k in range(NIGHTS) if run_id(k) != DAMAGED]


def three_nights(output: Path | str) -> Path | str:
    """Three ok nights of three seeds each under `output`."""
    write_synthetic_runs(str(output), NIGHTS, 3)
    return output


def rewrite(path: Path, change) -> None:
    """Rewrite a JSON file through `change(doc)` (which may return a new document, or text, or bytes)."""
    doc = json.loads(path.read_text())
    new = change(doc)
    new = doc if new is None else new
    if isinstance(new, bytes):
        path.write_bytes(new)
    else:
        path.write_text(new if isinstance(new, str) else json.dumps(new))


def strict_loads(text: str) -> Any:
    """JSON as strict parsers read it: NaN, Infinity and -Infinity are refused."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@dataclass(frozen=True)
class Listing:
    """What the listing commands said about one output."""

    rows: list[dict]  # runs --json
    table: str  # runs
    history_code: int
    check_code: int
    check: dict  # check --json
    stderr: str


def list_everything(capsys, output: str, history: bool = False) -> Listing:
    """`runs`, `runs --json`, `check --json` (and `history`) in this process; none may raise."""
    capsys.readouterr()
    assert cli.main(["runs", "--output", output, "--json", "-q"]) == 0
    done = capsys.readouterr()
    rows, stderr = strict_loads(done.out), done.err
    assert cli.main(["runs", "--output", output, "-q"]) == 0
    table = capsys.readouterr().out
    history_code = cli.main(["history", "--output", output, "-q"]) if history else 0  # it draws: slower
    capsys.readouterr()
    check_code = cli.main(["check", "--output", output, "-q", "--json"])
    check = strict_loads(capsys.readouterr().out)
    return Listing(rows, table, history_code, check_code, check, stderr)


def assert_listed_once(found: Listing, damaged: str, fragment: str) -> dict:
    """Every run listed once; `damaged` as damaged with a one-line reason holding `fragment`; the others ok;
    history built, check answered with a state (never 1 or 2). Returns the damaged run's row."""
    ids = [r["run_id"] for r in found.rows]
    assert sorted(ids) == sorted([*HEALTHY, damaged]), ids
    by_id = {r["run_id"]: r for r in found.rows}
    row = by_id[damaged]
    assert row["outcome"] == "damaged" and fragment in row["reason"], row
    assert "\n" not in row["reason"] and all(r["outcome"] in OUTCOMES for r in found.rows)
    assert [by_id[h]["outcome"] for h in HEALTHY] == ["ok"] * len(HEALTHY)
    assert sum(line.startswith(f"{damaged} ") for line in found.table.splitlines()) == 1
    assert f"  {damaged}: " in found.table  # the reason, below the table
    assert found.history_code == 0 and found.check_code not in (1, 2)
    return row


def history_run_states(output: Path) -> dict[str, str]:
    """runs.parquet's state of each run."""
    table = pq.read_table(output / "history" / "runs.parquet", columns=["run_id", "run_state"])
    return dict(zip(table["run_id"].to_pylist(), table["run_state"].to_pylist(), strict=True))


def rename_run(output: Path, old: str, new: str, created_at: str | None = None) -> None:
    """Move a run's folder to another name, its records saying the new id (and start time, if given)."""
    folder = output / "runs" / new
    (output / "runs" / old).rename(folder)

    def retag(doc: dict) -> None:
        doc["run_id"] = new
        if created_at is not None and "stages" in doc:
            doc["created_at"] = created_at

    rewrite(folder / "run.json", retag)
    if (folder / "summary" / "summary.json").exists():
        rewrite(folder / "summary" / "summary.json", retag)
