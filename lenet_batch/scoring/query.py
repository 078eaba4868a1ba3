"""`lenet-batch query`: SQL (DuckDB, in-process) over the committed predictions, as an Arrow table.

By default a query is one read-only SELECT that can read the output's prediction files and nothing else.
"""

import logging
import threading
from typing import Any

import duckdb
import pyarrow as pa

from lenet_batch.errors import ConfigError, StorageError
from lenet_batch.scoring.committed import require_committed
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout

log = logging.getLogger(__name__)

VIEW = "predictions"
# Typed, not inferred: DuckDB would otherwise read a run id such as 2026-11-27 as a DATE.
HIVE_TYPES = "{'run_id': 'VARCHAR', 'seed': 'BIGINT'}"
READ_ONLY = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)
UNRESTRICTED = "--unrestricted lifts this"
DEFAULT_TIMEOUT = 300.0  # seconds (`query --timeout`)
STOP_GRACE_SECONDS = 5.0  # an interrupted query unwinds within this (else it is left to the process exit)


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def connect(
    files: list[str], remote_fs: object | None = None, *, restricted: bool = True
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a `predictions` view over exactly these Parquet files.

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
    if remote_fs is not None:
        con.register_filesystem(remote_fs)
    listed = ", ".join(_sql_string(f) for f in files)
    con.execute(
        f"CREATE VIEW {VIEW} AS SELECT * FROM read_parquet([{listed}], hive_partitioning = true, "
        f"hive_types = {HIVE_TYPES})"
    )
    if restricted:
        con.execute(f"SET allowed_paths = [{listed}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con


def _files(layout: Layout, run_id: str | None, input_name: str | None) -> tuple[list[str], object | None]:
    """The committed files as DuckDB should name them, and the fsspec filesystem to register (remote only)."""
    uris = [p.uri for p in require_committed(layout, run_id, input_name=input_name)]
    if storage.is_local(layout.output):
        return [storage.get_fs(uri, layout.options)[1] for uri in uris], None
    fs, _ = storage.get_fs(layout.output, layout.options)
    return uris, fs


def _error(exc: duckdb.Error) -> Exception:
    """One line for the user: a bad query is a ConfigError, an unreadable file a StorageError."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    message = lines[0] if lines else type(exc).__name__
    if isinstance(exc, duckdb.PermissionException):
        return ConfigError(
            f"query: {message} (query reads only the output's prediction files; {UNRESTRICTED})"
        )
    if isinstance(exc, duckdb.IOException | duckdb.HTTPException):
        return StorageError(f"query: cannot read the predictions: {message}")
    return ConfigError(f"query: {message}")


def check_statement(sql: str) -> None:
    """One read-only statement (SELECT, or EXPLAIN of one); anything else is a ConfigError."""
    try:
        statements = duckdb.connect(":memory:").extract_statements(sql)
    except duckdb.Error as exc:
        raise _error(exc) from None
    if len(statements) != 1:
        raise ConfigError(f"query: give one SQL statement, not {len(statements)} ({UNRESTRICTED})")
    kind = statements[0].type
    if kind not in READ_ONLY:
        raise ConfigError(f"query: only SELECT queries are run, not {kind.name} ({UNRESTRICTED})")


def run_query(
    sql: str,
    layout: Layout,
    run_id: str | None = None,
    *,
    input_name: str | None = None,
    restricted: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> pa.Table:
    """Run SQL against the view `predictions` (committed partitions only; run_id limits it to one run).

    The view covers the test-split predictions, or those of a named --input. Restricted (the default), the
    SQL is one read-only statement that sees only those files. A query running longer than `timeout`
    seconds (None: no limit) is stopped (ConfigError).
    """
    if not sql.strip():
        raise ConfigError(
            "query: the SQL is empty; e.g. SELECT seed, avg(correct::int) FROM predictions GROUP BY seed"
        )
    if restricted:
        check_statement(sql)
    files, remote_fs = _files(layout, run_id, input_name)
    con = connect(files, remote_fs, restricted=restricted)
    log.debug("query over %d partition files: running (at most %s s)", len(files), timeout)
    try:
        table = _execute(con, sql, timeout)
    finally:
        con.close()
    if table is None:
        raise ConfigError("query: the statement returns no rows; give a SELECT over the view `predictions`")
    log.info("query over %d partition files returned %d rows", len(files), table.num_rows)
    return table


def _execute(con: duckdb.DuckDBPyConnection, sql: str, timeout: float | None) -> pa.Table | None:
    """The query's rows, computed in a thread while this one waits: a SIGTERM or Ctrl-C handled here, or
    the timeout, stops DuckDB (con.interrupt) rather than waiting for it to finish."""
    outcome: dict[str, Any] = {}
    # An Event, not Thread.join: a join interrupted by a signal handler's exception marks the thread
    # stopped while it still runs (Python 3.11), and the connection would be closed under it.
    done = threading.Event()

    def work() -> None:
        try:
            relation = con.sql(sql)
            outcome["table"] = None if relation is None else relation.to_arrow_table()
        except duckdb.Error as exc:
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="query", daemon=True).start()
    try:
        finished = done.wait(timeout)
    except BaseException:  # KeyboardInterrupt: SIGTERM or Ctrl-C
        _stop(con, done)
        raise
    if not finished:
        _stop(con, done)
        raise ConfigError(
            f"query: stopped after {timeout:g} s (--timeout); narrow it (e.g. WHERE run_id = '…', or "
            "--run-id) or give it longer with --timeout SECONDS"
        )
    if "error" in outcome:
        raise _error(outcome["error"]) from None
    return outcome.get("table")


def _stop(con: duckdb.DuckDBPyConnection, done: threading.Event) -> None:
    """Interrupt the running query and wait for it to unwind (DuckDB stops within milliseconds)."""
    con.interrupt()
    done.wait(STOP_GRACE_SECONDS)
