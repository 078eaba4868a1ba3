"""`lenet-batch query`: SQL (DuckDB, in-process) over the committed predictions, as an Arrow table."""

import logging

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


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def connect(files: list[str], remote_fs: object | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a `predictions` view over exactly these Parquet files."""
    # Never fetch extensions from the network: Parquet is built in, remote files go through fsspec.
    con = duckdb.connect(
        ":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    if remote_fs is not None:
        con.register_filesystem(remote_fs)
    listed = ", ".join(_sql_string(f) for f in files)
    con.execute(
        f"CREATE VIEW {VIEW} AS SELECT * FROM read_parquet([{listed}], hive_partitioning = true, "
        f"hive_types = {HIVE_TYPES})"
    )
    return con


def _files(layout: Layout, run_id: str | None) -> tuple[list[str], object | None]:
    """The committed files as DuckDB should name them, and the fsspec filesystem to register (remote only)."""
    uris = [p.uri for p in require_committed(layout, run_id)]
    if storage.is_local(layout.output):
        return [storage.get_fs(uri, layout.options)[1] for uri in uris], None
    fs, _ = storage.get_fs(layout.output, layout.options)
    return uris, fs


def _error(exc: duckdb.Error) -> Exception:
    """One line for the user: a bad query is a ConfigError, an unreadable file a StorageError."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    message = lines[0] if lines else type(exc).__name__
    if isinstance(exc, duckdb.IOException | duckdb.HTTPException):
        return StorageError(f"query: cannot read the predictions: {message}")
    return ConfigError(f"query: {message}")


def run_query(sql: str, layout: Layout, run_id: str | None = None) -> pa.Table:
    """Run SQL against the view `predictions` (committed partitions only; run_id limits it to one run)."""
    if not sql.strip():
        raise ConfigError(
            "query: the SQL is empty; e.g. SELECT seed, avg(correct::int) FROM predictions GROUP BY seed"
        )
    files, remote_fs = _files(layout, run_id)
    con = connect(files, remote_fs)
    try:
        relation = con.sql(sql)
        if relation is None:
            raise ConfigError(
                "query: the statement returns no rows; give a SELECT over the view `predictions`"
            )
        table = relation.to_arrow_table()
    except duckdb.Error as exc:
        raise _error(exc) from None
    finally:
        con.close()
    log.info("query over %d partition files returned %d rows", len(files), table.num_rows)
    return table
