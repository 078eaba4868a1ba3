"""What `lenet-batch query` reads: its views (`predictions`, `runs`) over an output's files, in a sandbox.

A view whose files are not there yet is left out, with the reason, so that a query over the other still
runs and one that names it says what is missing.
"""

import errno
from dataclasses import dataclass, field
from typing import Any

import duckdb

from lenet_batch.errors import DataError, LenetError, StorageError
from lenet_batch.scoring.committed import require_committed
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout

PREDICTIONS, RUNS = "predictions", "runs"
RUNS_FILE = "runs.parquet"  # under <output>/history/, written by the history stage
# Typed, not inferred: DuckDB would otherwise read a run id such as 2026-11-27 as a DATE.
HIVE_TYPES = "{'run_id': 'VARCHAR', 'seed': 'BIGINT'}"


@dataclass(frozen=True)
class Sources:
    """The files of each view as DuckDB names them, the remote filesystem (None: local), and the views
    left out with the error that says why."""

    predictions: list[str] = field(default_factory=list)
    runs: str | None = None
    remote_fs: object | None = None
    run_id: str | None = None
    missing: dict[str, LenetError] = field(default_factory=dict)

    def files(self) -> list[str]:
        """Every file a view reads: all that a restricted query may open."""
        return self.predictions + ([self.runs] if self.runs else [])


def _kind(fs: Any, path: str, uri: str) -> str | None:
    """What stands at the path: file, directory, other; None for nothing."""
    try:
        return fs.info(path).get("type")
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StorageError(f"{uri}: a symlink loop") from None
        raise


def runs_file(layout: Layout) -> str:
    """<output>/history/runs.parquet when it is a file; DataError when there is none yet."""
    uri = storage.join(layout.history_dir(), RUNS_FILE)
    fs, path = storage.get_fs(uri, layout.options)
    with storage.storage_errors(uri):
        kind = _kind(fs, path, uri)
    if kind is None:
        storage.exists(layout.output, layout.options)  # a missing bucket is said as such
        raise DataError(f"no {uri} yet: a nightly or `lenet-batch history` writes it")
    if kind == "directory":
        raise StorageError(f"{uri}: is a folder, not a file")
    if kind != "file":  # DuckDB would wait on a FIFO forever
        raise StorageError(f"{uri}: not a regular file (a device, FIFO or socket)")
    return uri


def find_sources(layout: Layout, run_id: str | None = None, input_name: str | None = None) -> Sources:
    """The committed prediction files (one run or all; the test split or a named input), runs.parquet."""
    missing: dict[str, LenetError] = {}
    uris: list[str] = []
    try:
        uris = [p.uri for p in require_committed(layout, run_id, input_name=input_name)]
    except DataError as exc:
        missing[PREDICTIONS] = exc
    for uri in uris:  # DuckDB opens the files itself: one that is a FIFO or a device would make it wait
        storage.require_file(uri, layout.options)
    runs = None
    try:
        runs = runs_file(layout)
    except DataError as exc:
        missing[RUNS] = exc
    if storage.is_local(layout.output):
        local = lambda uri: storage.get_fs(uri, layout.options)[1]  # noqa: E731 - DuckDB wants plain paths
        return Sources([local(u) for u in uris], runs and local(runs), None, run_id, missing)
    remote_fs = storage.get_fs(layout.output, layout.options)[0]
    return Sources(uris, runs, remote_fs, run_id, missing)


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _create_views(con: duckdb.DuckDBPyConnection, sources: Sources) -> None:
    one_run = f" WHERE run_id = {_sql_string(sources.run_id)}" if sources.run_id else ""
    if sources.predictions:
        listed = ", ".join(_sql_string(f) for f in sources.predictions)
        con.execute(
            f"CREATE VIEW {PREDICTIONS} AS SELECT * FROM read_parquet([{listed}], hive_partitioning = true, "
            f"hive_types = {HIVE_TYPES})"
        )
    if sources.runs:
        con.execute(f"CREATE VIEW {RUNS} AS SELECT * FROM read_parquet({_sql_string(sources.runs)}){one_run}")


def connect(sources: Sources, *, restricted: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the views over exactly these files.

    Restricted (the default), it can read those files and nothing else: no other file, no network, no
    extension, no writes, and the settings are locked so that SQL cannot lift any of it.
    """
    # Never fetch extensions from the network: Parquet is built in, remote files go through fsspec.
    con = duckdb.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "python_enable_replacements": not restricted,  # no scans of this process's Python variables
        },
    )
    if sources.remote_fs is not None:
        con.register_filesystem(sources.remote_fs)
    _create_views(con, sources)
    if restricted:
        con.execute(f"SET allowed_paths = [{', '.join(_sql_string(f) for f in sources.files())}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con
