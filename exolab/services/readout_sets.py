"""The replicate-set summary table ``readout_sets``, kept equal to an aggregation of readouts.

One row per sample x isolation x analyte x assay x run x unit (readouts with a unit only):
``n`` non-censored numeric replicates, their ``total``, ``n_censored`` and the bound of the
censored replicates (``censor_limit``: the domain's :func:`~exolab.domain.replicates.set_limit`,
the highest limit of a set censored below, the lowest of one censored above, NULL when a
censored replicate has no limit recorded or the set is censored both ways), and the set's
lowest readout id. Cohort summaries and method
comparison read it instead of aggregating millions of readouts.

Every write path of readouts keeps it current by calling :func:`refresh` with the
(sample, analyte) pairs it touched: the pair is the refresh unit because it is never NULL, is
indexed on both tables, and holds only a handful of readouts, so "delete the pair's sets,
re-aggregate the pair's readouts" is exact whatever changed (value, unit, censoring, a deleted
replicate). The pairs are given either as a few ``(sample_id, analyte_id)`` tuples (a readout
recorded, edited or deleted) or as :class:`PairsOf`, the rows of a table (the readouts of an
import batch about to be undone, a bulk import's staged chunk), which are collected with one
``INSERT .. SELECT`` and re-aggregated with set-based SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from exolab.domain.replicates import censor_direction, set_limit
from exolab.services.context import Tx

__all__ = [
    "AGGREGATE_READS",
    "AGGREGATE_SQL",
    "LIMIT_SQL",
    "SET_COLUMNS",
    "PairsOf",
    "SetRow",
    "refresh",
    "refresh_statements",
    "refreshing",
    "sets_of",
]

SET_COLUMNS = (
    "analyte_id, sample_id, isolation_id, assay, run_code, unit, "
    "n, n_censored, total, censor_limit, first_readout_id"
)

# A censored replicate's side of its limit, :func:`exolab.domain.replicates.censor_direction`
# in SQL: its comparator's when that has one, else its flag's (only gt_uloq is above).
_ABOVE = (
    "(SUBSTR(r.comparator, 1, 1) = '>' "
    "OR (r.censor = 'gt_uloq' AND SUBSTR(r.comparator, 1, 1) <> '<'))"
)
_BELOW_LIMIT = f"CASE WHEN r.censor <> 'none' AND NOT {_ABOVE} THEN r.value END"
_ABOVE_LIMIT = f"CASE WHEN r.censor <> 'none' AND {_ABOVE} THEN r.value END"
_N_CENSORED = "SUM(CASE WHEN r.censor <> 'none' THEN 1 ELSE 0 END)"
#: A set's bound, :func:`exolab.domain.replicates.set_limit` in SQL: when every censored
#: replicate is below a recorded limit, the highest (also NULL when none is censored); when
#: every one is above a recorded limit, the lowest; otherwise (a limit not recorded, or
#: both sides) NULL. COUNT counts the censored replicates of one side with a limit.
LIMIT_SQL = (
    f"CASE WHEN {_N_CENSORED} = COUNT({_BELOW_LIMIT}) THEN MAX({_BELOW_LIMIT}) "
    f"WHEN {_N_CENSORED} = COUNT({_ABOVE_LIMIT}) THEN MIN({_ABOVE_LIMIT}) END"
)

#: The aggregation of readouts into sets; ``{source}`` names readouts as ``r`` (optionally
#: joined to something), ``{where}`` restricts it. (The migrations that fill the table spell
#: it out as it was then: 0003_readout_sets, 0016_readout_set_limits.)
#: (Grouped sample first: SQLite reads a chunk's readouts in sample order, and its sorter then
#: takes the rows almost in order, ~10 % of the refresh of an import's chunk.)
AGGREGATE_SQL = (
    "SELECT r.analyte_id, r.sample_id, r.isolation_id, r.assay, r.run_code, r.unit, "
    "SUM(CASE WHEN r.censor = 'none' AND r.value IS NOT NULL THEN 1 ELSE 0 END), "
    f"{_N_CENSORED}, "
    "SUM(CASE WHEN r.censor = 'none' THEN r.value END), "
    f"{LIMIT_SQL}, "
    "MIN(r.id) "
    "FROM {source} WHERE r.unit IS NOT NULL{where} "
    "GROUP BY r.sample_id, r.analyte_id, r.isolation_id, r.assay, r.run_code, r.unit"
)

#: The readouts columns AGGREGATE_SQL reads (a source given to it must have them).
AGGREGATE_READS = (
    "id",
    "analyte_id",
    "sample_id",
    "isolation_id",
    "assay",
    "run_code",
    "unit",
    "censor",
    "comparator",
    "value",
)

#: A readout as :func:`sets_of` reads it: sample_id, isolation_id, analyte_id, its context
#: (assay, run_code, unit), censor, comparator, value.
SetRow = tuple[int, "int | None", int, tuple[str, str, "str | None"], str, str, "float | None"]


def sets_of(rows: Iterable[SetRow]) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]]]:
    """:data:`AGGREGATE_SQL` in Python, over readouts not stored yet (a bulk import's chunk on
    PostgreSQL, services/pg_load.py), given in the order they will be stored (their ids'):
    the sets, as (analyte_id, sample_id, isolation_id, assay, run_code, unit, n, n_censored,
    total, censor_limit, first) with ``first`` the position of the set's first readout in
    ``rows``, and the distinct (sample_id, analyte_id) pairs of ``rows``, in order.

    The same rule as the SQL: readouts without a unit are in no set; ``n`` counts the
    uncensored ones with a number and ``total`` adds those numbers up in the same order (so
    the float is the same); the bound of the censored is the domain's
    :func:`~exolab.domain.replicates.set_limit` (tests/queries/test_readout_sets.py checks
    the stored sets against the SQL after every write path)."""
    sets: dict[tuple[Any, ...], list[Any]] = {}
    pairs: dict[tuple[int, int], None] = {}
    for i, (sample, isolation, analyte, context, censor, comparator, value) in enumerate(rows):
        pairs[sample, analyte] = None
        if context[2] is None:
            continue
        key = (sample, analyte, isolation, context)
        acc = sets.get(key)
        if acc is None:
            acc = sets[key] = [0, 0, None, None, i]  # n, n_censored, total, censored, first
        if censor == "none":
            if value is not None:
                acc[0] += 1
                acc[2] = value if acc[2] is None else acc[2] + value
        else:
            acc[1] += 1
            if acc[3] is None:
                acc[3] = []
            acc[3].append((censor_direction(censor, comparator), value))
    out = [
        (
            analyte,
            sample,
            isolation,
            *context,
            n,
            n_censored,
            total,
            None if censored is None else set_limit(censored)[1],
            first,
        )
        for (sample, analyte, isolation, context), (n, n_censored, total, censored, first) in (
            sets.items()
        )
    ]
    return out, list(pairs)


_STAGE = "exolab_readout_set_pairs"
_LISTED = "exolab_readout_set_pairs_listed"  # (many pairs given as a list: _refresh_pairs)


@dataclass(frozen=True)
class PairsOf:
    """The (sample, analyte) pairs of the rows of ``source`` (``readouts``, or a staging table
    with those two columns) matching ``where`` (e.g. ``batch_id = :b`` with ``params``)."""

    source: str = "readouts"
    where: str = "1 = 1"
    params: dict[str, Any] = field(default_factory=dict)


def refresh(target: Tx | Connection, touched: Iterable[tuple[int, int]] | PairsOf) -> None:
    """Bring readout_sets up to date for the (sample_id, analyte_id) pairs a write touched:
    the one refresh every readout write path calls, after its write (record, edit, delete,
    import in bulk or row by row). A write that deletes readouts it names by :class:`PairsOf`
    (an undo) wraps the delete in :func:`refreshing` instead, which is the same refresh with
    the pairs collected before the write."""
    with refreshing(target, touched):
        pass


@contextmanager
def refreshing(
    target: Tx | Connection, touched: Iterable[tuple[int, int]] | PairsOf
) -> Iterator[None]:
    """:func:`refresh` around a write: the pairs of ``touched`` are collected on entry (so
    :class:`PairsOf` may name readouts the write deletes) and their sets re-aggregated when
    the write is done."""
    conn = target if isinstance(target, Connection) else target.session.connection()
    if isinstance(touched, PairsOf):
        _stage_pairs(conn, touched)
        yield
        _refresh_staged(conn)
    else:
        pairs = list(touched)
        yield
        _refresh_pairs(conn, pairs)


# From this many pairs on, they are staged and re-aggregated with set-based SQL (an update
# import's chunk) instead of one statement per pair (a readout recorded or edited).
MANY_PAIRS = 50


def _refresh_pairs(conn: Connection, pairs: Iterable[tuple[int, int]]) -> None:
    """Re-aggregate the sets of some (sample_id, analyte_id) pairs: a few (row-by-row writes)
    one at a time, many (an update import's chunk) staged in the pairs table first."""
    params = [{"s": s, "a": a} for s, a in sorted(set(pairs))]
    if not params:
        return
    if len(params) >= MANY_PAIRS:  # (a table of their own: a PairsOf refresh may be open)
        _create_stage(conn, _LISTED)
        insert_pairs = f"INSERT INTO {_LISTED} (sample_id, analyte_id) VALUES (:s, :a)"
        conn.execute(text(insert_pairs), params)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {_LISTED}")
        _refresh_staged(conn, _LISTED)
        return
    conn.execute(text("DELETE FROM readout_sets WHERE analyte_id = :a AND sample_id = :s"), params)
    insert = text(
        f"INSERT INTO readout_sets ({SET_COLUMNS}) "
        + AGGREGATE_SQL.format(
            source="readouts r", where=" AND r.analyte_id = :a AND r.sample_id = :s"
        )
    )
    for p in params:
        conn.execute(insert, p)


def _stage_pairs(conn: Connection, pairs: PairsOf) -> None:
    """Collect the pairs of ``pairs`` into the temporary pairs table."""
    _create_stage(conn, _STAGE)
    conn.execute(
        text(
            f"INSERT INTO {_STAGE} (sample_id, analyte_id) "
            f"SELECT DISTINCT sample_id, analyte_id FROM {pairs.source} WHERE {pairs.where} "
            f"EXCEPT SELECT sample_id, analyte_id FROM {_STAGE}"
        ),
        pairs.params,
    )
    if conn.dialect.name == "postgresql":
        # a temporary table has no statistics: without them the planner may scan readouts
        conn.exec_driver_sql(f"ANALYZE {_STAGE}")


def _create_stage(conn: Connection, stage: str) -> None:
    """A temporary pairs table (empty between refreshes: :func:`_refresh_staged`)."""
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} "
        "(sample_id INTEGER NOT NULL, analyte_id INTEGER NOT NULL, "
        "PRIMARY KEY (analyte_id, sample_id))"
    )


def refresh_statements(pairs: str, sqlite: bool) -> tuple[str, str]:
    """The two statements that bring the sets of the (sample_id, analyte_id) pairs in table
    ``pairs`` up to date: delete their sets, then aggregate them again from readouts.

    SQLite has no statistics on a temporary pairs table and with a plain JOIN would scan all
    of readout_sets and readouts; CROSS JOIN makes it read the pairs first and probe the
    indexes. PostgreSQL (statistics from ANALYZE when the pairs are staged) plans it itself."""
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


def _refresh_staged(conn: Connection, stage: str = _STAGE) -> None:
    """Re-aggregate the sets of every staged pair with set-based SQL, then forget the pairs."""
    for statement in refresh_statements(stage, conn.dialect.name == "sqlite"):
        conn.exec_driver_sql(statement)
    conn.exec_driver_sql(f"DELETE FROM {stage}")
