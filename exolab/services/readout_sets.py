"""The replicate-set summary table ``readout_sets``, kept equal to an aggregation of readouts.

One row per sample x isolation x analyte x assay x run x unit (readouts with a unit only):
``n`` non-censored numeric replicates, their ``total``, ``n_censored`` and the largest censored
value (``censor_limit``), and the set's lowest readout id. Cohort summaries and method
comparison read it instead of aggregating millions of readouts.

Every write path of readouts keeps it current by refreshing the sets of the (sample, analyte)
pairs it touched: the pair is the refresh unit because it is never NULL, is indexed on both
tables, and holds only a handful of readouts, so "delete the pair's sets, re-aggregate the
pair's readouts" is exact whatever changed (value, unit, censoring, a deleted replicate).

- row by row (the readouts service): :func:`refresh_pairs`;
- in bulk: :func:`stage_pairs` collects the pairs into a temporary table with one
  ``INSERT .. SELECT`` (the undo of a batch from its readouts before the delete, the
  PostgreSQL import from its staging table) and :func:`refresh_staged` re-aggregates them with
  set-based SQL; the SQLite import runs :func:`refresh_statements` chunk by chunk itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, text

from exolab.services.context import Tx

__all__ = [
    "AGGREGATE_SQL",
    "SET_COLUMNS",
    "refresh_pairs",
    "refresh_staged",
    "refresh_statements",
    "stage_pairs",
]

SET_COLUMNS = (
    "analyte_id, sample_id, isolation_id, assay, run_code, unit, "
    "n, n_censored, total, censor_limit, first_readout_id"
)

#: The aggregation of readouts into sets; ``{source}`` names readouts as ``r`` (optionally
#: joined to something), ``{where}`` restricts it. The migration backfills with it too.
AGGREGATE_SQL = (
    "SELECT r.analyte_id, r.sample_id, r.isolation_id, r.assay, r.run_code, r.unit, "
    "SUM(CASE WHEN r.censor = 'none' AND r.value IS NOT NULL THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN r.censor <> 'none' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN r.censor = 'none' THEN r.value END), "
    "MAX(CASE WHEN r.censor <> 'none' THEN r.value END), "
    "MIN(r.id) "
    "FROM {source} WHERE r.unit IS NOT NULL{where} "
    "GROUP BY r.analyte_id, r.sample_id, r.isolation_id, r.assay, r.run_code, r.unit"
)

_STAGE = "exolab_readout_set_pairs"


def _conn(tx: Tx) -> Connection:
    return tx.session.connection()


def refresh_pairs(tx: Tx, pairs: Iterable[tuple[int, int]]) -> None:
    """Re-aggregate the sets of a few (sample_id, analyte_id) pairs (row-by-row writes)."""
    params = [{"s": s, "a": a} for s, a in sorted(set(pairs))]
    if not params:
        return
    conn = _conn(tx)
    conn.execute(text("DELETE FROM readout_sets WHERE analyte_id = :a AND sample_id = :s"), params)
    insert = text(
        f"INSERT INTO readout_sets ({SET_COLUMNS}) "
        + AGGREGATE_SQL.format(
            source="readouts r", where=" AND r.analyte_id = :a AND r.sample_id = :s"
        )
    )
    for p in params:
        conn.execute(insert, p)


def stage_pairs(
    tx: Tx,
    readouts_where: str = "1 = 1",
    params: dict[str, Any] | None = None,
    *,
    source: str = "readouts",
) -> None:
    """Remember the (sample, analyte) pairs of the rows of ``source`` (``readouts``, or a
    staging table with those columns) matching ``readouts_where`` (e.g. ``batch_id = :b``)
    for :func:`refresh_staged`; for readouts about to be deleted, call it before the delete.
    Pairs staged earlier in the transaction are kept."""
    conn = _conn(tx)
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} "
        "(sample_id INTEGER NOT NULL, analyte_id INTEGER NOT NULL, "
        "PRIMARY KEY (analyte_id, sample_id))"
    )
    conn.execute(
        text(
            f"INSERT INTO {_STAGE} (sample_id, analyte_id) "
            f"SELECT DISTINCT sample_id, analyte_id FROM {source} WHERE {readouts_where} "
            f"EXCEPT SELECT sample_id, analyte_id FROM {_STAGE}"
        ),
        params or {},
    )
    if conn.dialect.name == "postgresql":
        # a temporary table has no statistics: without them the planner may scan readouts
        conn.exec_driver_sql(f"ANALYZE {_STAGE}")


def refresh_statements(pairs: str, sqlite: bool) -> tuple[str, str]:
    """The two statements that bring the sets of the (sample_id, analyte_id) pairs in table
    ``pairs`` up to date: delete their sets, then aggregate them again from readouts.

    SQLite has no statistics on a temporary pairs table and with a plain JOIN would scan all
    of readout_sets and readouts; CROSS JOIN makes it read the pairs first and probe the
    indexes. PostgreSQL (statistics from ANALYZE in :func:`stage_pairs`) plans it itself."""
    join = "CROSS JOIN" if sqlite else "JOIN"
    delete = (
        f"DELETE FROM readout_sets WHERE id IN (SELECT rs.id FROM {pairs} k {join} "
        "readout_sets rs ON rs.analyte_id = k.analyte_id AND rs.sample_id = k.sample_id)"
    )
    insert = f"INSERT INTO readout_sets ({SET_COLUMNS}) " + AGGREGATE_SQL.format(
        source=f"{pairs} k {join} readouts r "
        "ON r.sample_id = k.sample_id AND r.analyte_id = k.analyte_id",
        where="",
    )
    return delete, insert


def refresh_staged(tx: Tx) -> None:
    """Re-aggregate the sets of every staged pair with set-based SQL, then forget the pairs."""
    conn = _conn(tx)
    for statement in refresh_statements(_STAGE, conn.dialect.name == "sqlite"):
        conn.exec_driver_sql(statement)
    conn.exec_driver_sql(f"DELETE FROM {_STAGE}")
