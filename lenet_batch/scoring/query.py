"""`lenet-batch query`: SQL (DuckDB, in-process) over an output's committed predictions and its runs index
(history/runs.parquet), as an Arrow table.

By default a query is one read-only SELECT that can read those files and nothing else.
"""

import logging
import re
import threading
from typing import Any

import duckdb
import pyarrow as pa

from lenet_batch.errors import ConfigError, StorageError
from lenet_batch.scoring.query_sources import PREDICTIONS, RUNS, Sources, connect, find_sources
from lenet_batch.store.layout import Layout
from lenet_batch.units import format_duration

log = logging.getLogger(__name__)

READ_ONLY = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)
UNRESTRICTED = "--unrestricted lifts this"
DEFAULT_TIMEOUT = 300.0  # seconds (`query --timeout`)
STOP_GRACE_SECONDS = 5.0  # an interrupted query unwinds within this (else it is left to the process exit)
VIEW_FILES = "prediction files and runs.parquet"
# DuckDB's words for a table it does not know: "Catalog Error: Table with name runs does not exist!"
UNKNOWN_TABLE = re.compile(r"Table with name (\w+) does not exist")


def _error(exc: duckdb.Error, sources: Sources | None = None) -> Exception:
    """One line for the user: a bad query is a ConfigError, an unreadable file a StorageError, and a view
    whose files are not there yet the error that says so."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    message = lines[0] if lines else type(exc).__name__
    unknown = UNKNOWN_TABLE.search(message) if isinstance(exc, duckdb.CatalogException) else None
    if unknown and sources is not None and unknown.group(1).lower() in sources.missing:
        return sources.missing[unknown.group(1).lower()]
    if isinstance(exc, duckdb.PermissionException):
        return ConfigError(f"query: {message} (query reads only the output's {VIEW_FILES}; {UNRESTRICTED})")
    if isinstance(exc, duckdb.IOException | duckdb.HTTPException):
        return StorageError(f"query: cannot read the {VIEW_FILES}: {message}")
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
    """Run SQL against the views `predictions` (committed partitions only) and `runs` (runs.parquet);
    run_id limits both to one run.

    `predictions` covers the test split, or a named --input. Restricted (the default), the SQL is one
    read-only statement that sees only those files. A query running longer than `timeout` seconds (None:
    no limit) is stopped (ConfigError).
    """
    if not sql.strip():
        raise ConfigError(
            "query: the SQL is empty; e.g. SELECT seed, avg(correct::int) FROM predictions GROUP BY seed"
        )
    if restricted:
        check_statement(sql)
    sources = find_sources(layout, run_id, input_name)
    con = connect(sources, restricted=restricted)
    limit = "no limit" if timeout is None else f"at most {format_duration(timeout)}"
    log.debug("query over %d files: running (%s)", len(sources.files()), limit)
    try:
        table = _execute(con, sql, timeout)
    except duckdb.Error as exc:
        raise _error(exc, sources) from None
    finally:
        con.close()
    if table is None:
        raise ConfigError(
            f"query: the statement returns no rows; give a SELECT over the views `{PREDICTIONS}` or `{RUNS}`"
        )
    log.info("query over %d files returned %d rows", len(sources.files()), table.num_rows)
    return table


def _execute(con: duckdb.DuckDBPyConnection, sql: str, timeout: float | None) -> pa.Table | None:
    """The query's rows, computed in a thread while this one waits: a SIGTERM or Ctrl-C handled here, or
    the timeout, stops DuckDB (con.interrupt) rather than waiting for it to finish. DuckDB's own error
    is raised as is."""
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
            f"query: stopped after {format_duration(timeout)} (--timeout); narrow it (e.g. WHERE run_id = "
            "'…', or --run-id) or give it longer with --timeout SECONDS"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("table")


def _stop(con: duckdb.DuckDBPyConnection, done: threading.Event) -> None:
    """Interrupt the running query and wait for it to unwind (DuckDB stops within milliseconds)."""
    con.interrupt()
    done.wait(STOP_GRACE_SECONDS)
