"""Reading replicate sets from the replicate-set table (``readout_sets``), shared by the
cohort summary (:mod:`exolab.services.cohort_summary`) and method comparison
(:mod:`exolab.services.method_comparison`): each set's value in the analyte's standard unit
(:class:`SetTerms`), whether sets split over two convertible units must be merged
(:func:`split_sets`), and a query run beside the main read on a second connection
(:class:`Later`).

A set's value is the statistic of :mod:`exolab.domain.replicates` (:func:`~exolab.domain.
replicates.set_statistic`): computed by the database from the count and sum the table stores
when the statistic follows from them (the mean), otherwise from the set's readouts by
:func:`~exolab.domain.replicates.summarise`. Plain SQL on a :class:`~exolab.db.raw.Reader`,
without SQLAlchemy or pydantic (docs/longitudinal.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from exolab.db.raw import Reader, Row, in_list, second
from exolab.domain import decimals
from exolab.domain.replicates import Statistic, set_statistic, summarise
from exolab.services.history import Units

__all__ = ["Later", "SetTerms", "read_sets", "set_filters", "split_sets"]

T = TypeVar("T")

_WORK_MEM = "64MB"

# The distinct units of an analyte's sets, one index probe per unit on
# ix_readout_sets_analyte_unit (a loose index scan; DISTINCT reads every set of the analyte).
_UNITS = (
    "WITH RECURSIVE u(unit) AS (SELECT min(unit) FROM readout_sets WHERE analyte_id = :analyte"
    " UNION ALL SELECT (SELECT min(r.unit) FROM readout_sets r WHERE r.analyte_id = :analyte"
    " AND r.unit > u.unit) FROM u WHERE u.unit IS NOT NULL)"
    " SELECT unit FROM u WHERE unit IS NOT NULL"
)


def split_sets(reader: Reader, analyte_pk: int, into: dict[str, list[str]]) -> bool:
    """Whether some replicate set of the analyte was recorded in two units that convert into
    one standard unit (``into``: standard unit -> units), so that its parts must be merged.
    Looked up from each part in a unit other than the first (an index probe per part)."""
    for units in into.values():
        if len(units) < 2:
            continue
        params: dict[str, Any] = {"analyte": analyte_pk}
        others = in_list("other", units[1:], params)
        every = in_list("unit", units, params)
        sql = (
            "SELECT 1 FROM readout_sets a WHERE a.analyte_id = :analyte "
            f"AND a.unit IN {others} AND EXISTS (SELECT 1 FROM readout_sets b "
            "WHERE b.analyte_id = a.analyte_id AND b.sample_id = a.sample_id "
            f"AND b.unit <> a.unit AND b.unit IN {every} "
            "AND b.assay = a.assay AND b.run_code = a.run_code "
            "AND (b.isolation_id = a.isolation_id "
            "OR (b.isolation_id IS NULL AND a.isolation_id IS NULL))) LIMIT 1"
        )
        if reader.first(sql, params) is not None:
            return True
    return False


class SetTerms:
    """SQL for a replicate set's unit and value in the analyte's standard unit (conversion
    factors from :class:`~exolab.services.history.Units` as parameters, added to ``params``)
    and the unit each stored unit is reported in. ``into`` groups the units converted into
    each standard unit: when one has several, sets split over two of them may have to be
    merged (:func:`split_sets`; then :meth:`value` is over the sets merged by a GROUP BY
    over the set's target, assay and run).

    When the set statistic does not follow from the stored count and sum (``from_sums``
    False), :meth:`value` selects a set's id instead and :meth:`resolve` puts the value in
    its place, computed from the set's readouts by the domain's rule."""

    def __init__(self, reader: Reader, analyte_pk: int, units: Units, params: dict[str, Any]):
        std = units.standard(analyte_pk)
        self._reader, self._analyte = reader, analyte_pk
        self.statistic: Statistic = set_statistic()
        self.from_sums = self.statistic.sums_sql is not None
        self.factor: dict[str, float] = {}  # stored unit -> factor to the standard unit
        self.into: dict[str, list[str]] = {}  # standard unit -> the units converted into it
        found = reader.all(_UNITS, {"analyte": analyte_pk})
        self.reported: dict[str, str] = {}  # stored unit -> unit of the results
        for unit in sorted((u for (u,) in found), key=lambda u: (u != std, u)):  # std first
            f = 1.0 if std is None or unit == std else units.factor(unit, std)
            out = unit if f is None else str(std or unit)
            self.into.setdefault(out, []).append(unit)
            self.reported[unit] = out
            if f is not None and unit != std:
                self.factor[unit] = f
        self.may_merge = any(len(v) > 1 for v in self.into.values())
        self.unit, self.scale = "a.unit", ""  # scale: the factor to the standard unit
        if self.factor:
            params["std"] = std
            whens_unit, whens_factor = [], []
            for i, (u, f) in enumerate(sorted(self.factor.items())):
                params[f"u{i}"], params[f"f{i}"] = u, f
                whens_unit.append(f"WHEN :u{i} THEN :std")
                whens_factor.append(f"WHEN :u{i} THEN :f{i}")
            self.unit = f"CASE a.unit {' '.join(whens_unit)} ELSE a.unit END"
            self.scale = f" * CASE a.unit {' '.join(whens_factor)} ELSE 1.0 END"

    def value(self, merge: bool) -> str:
        """The set's value (NULL when every replicate was censored); with ``merge``, of the
        sets merged by a GROUP BY. A set's id instead when :attr:`from_sums` is False."""
        sums = self.statistic.sums_sql
        if sums is None:
            return "min(a.id)" if merge else "a.id"
        if merge:
            of = sums.format(total=f"sum(a.total{self.scale})", n="sum(a.n)")
            return f"CASE WHEN sum(a.n) > 0 THEN {of} END"
        return f"CASE WHEN a.n > 0 THEN {sums.format(total=f'a.total{self.scale}', n='a.n')} END"

    def limit(self, merge: bool) -> str:
        """The bound of the set's censored replicates (``censor_limit``: NULL when none was
        censored, or one's limit was not recorded, docs/longitudinal.md); with ``merge``, the
        highest bound of the sets merged, NULL when one of those with a censored replicate
        has none."""
        if not merge:
            return f"a.censor_limit{self.scale}"
        return (
            "CASE WHEN count(CASE WHEN a.n_censored > 0 THEN 1 END) = count(a.censor_limit) "
            f"THEN max(a.censor_limit{self.scale}) END"
        )

    def resolve(self, rows: list[Row], at: int, merge: bool) -> list[Row]:
        """``rows`` with column ``at`` (a set's id from :meth:`value`) replaced by the set's
        value; ``rows`` themselves when :attr:`from_sums` (the database computed it)."""
        if self.from_sums:
            return rows
        values = self._values(merge)
        return [(*r[:at], values.get(r[at]), *r[at + 1 :]) for r in rows]

    def _values(self, merge: bool) -> dict[int, float | None]:
        """Value of each set of the analyte (by id), from its readouts by
        :func:`~exolab.domain.replicates.summarise`; with ``merge`` a set's value is that of
        the sets differing only in a unit reported as the same standard unit."""
        params = {"analyte": self._analyte}

        def key(sample: int, iso: int | None, assay: str, run: str, unit: str) -> tuple[Any, ...]:
            return (sample, iso, assay, run, self.reported.get(unit, unit) if merge else unit)

        numbers: dict[tuple[Any, ...], list[float]] = {}
        for sample, iso, assay, run, unit, value in self._reader.all(
            "SELECT sample_id, isolation_id, assay, run_code, unit, value FROM readouts "
            "WHERE analyte_id = :analyte AND censor = 'none' AND value IS NOT NULL "
            "AND unit IS NOT NULL",
            params,
        ):
            f = self.factor.get(unit)
            v = float(value) if f is None else decimals.scaled(float(value), f)
            numbers.setdefault(key(sample, iso, assay, run, unit), []).append(v)
        of_key = {k: summarise(vs, 0).mean for k, vs in numbers.items()}
        return {
            pk: of_key.get(key(sample, iso, assay, run, unit))
            for pk, sample, iso, assay, run, unit in self._reader.all(
                "SELECT id, sample_id, isolation_id, assay, run_code, unit FROM readout_sets "
                "WHERE analyte_id = :analyte",
                params,
            )
        }


def read_sets(reader: Reader, sql: str, params: dict[str, Any]) -> list[Row]:
    """Rows of a sets query. PostgreSQL's hash join over the samples spills to disk at the
    default 4 MB of work_mem once a lab has ~200k samples; the query gets more (for itself:
    the setting is put back after it, and is local to the transaction anyway)."""
    if reader.sqlite:
        return reader.all(sql, params)
    found = reader.first("SELECT current_setting('work_mem')")
    before = _WORK_MEM if found is None else found[0]
    reader.first("SELECT set_config('work_mem', :mem, true)", {"mem": _WORK_MEM})
    try:
        return reader.all(sql, params)
    finally:
        reader.first("SELECT set_config('work_mem', :mem, true)", {"mem": before})


def set_filters(params: dict[str, Any], biofluid: str | None, method: str | None) -> str:
    """`` AND ...`` restricting sets to a biofluid (``s``: samples) and a method (``i``:
    isolations)."""
    sql = ""
    if biofluid:
        sql += " AND s.biofluid = :biofluid"
        params["biofluid"] = biofluid
    if method:
        sql += " AND i.method = :method"
        params["method"] = method
    return sql


class Later(Generic[T]):
    """``query(reader)`` started on a second connection in a thread (``beside`` is True)
    while the caller reads on; calling this waits for its result. The database works
    without Python's lock (SQLite in its C code, PostgreSQL in its server), so a small query
    (the visit order; the split-unit probe) costs no wall time beside the cohort's main
    read. Without a second connection (a write transaction, a database in memory), or if it
    fails, the query runs on ``reader`` when called."""

    def __init__(self, reader: Reader, query: Callable[[Reader], T]) -> None:
        self._reader, self._query = reader, query
        self._result: list[T] = []
        opener = second(reader)
        self.beside = opener is not None
        self._thread: threading.Thread | None = None
        if opener is not None:
            self._thread = threading.Thread(
                target=self._run, args=(opener,), name="exolab-beside", daemon=True
            )
            self._thread.start()

    def _run(self, opener: Callable[[], Reader]) -> None:
        try:
            other = opener()
            try:
                self._result.append(self._query(other))
            finally:
                other.close()
        except Exception:  # run again on the caller's connection, which reports it
            return

    def __call__(self) -> T:
        if self._thread is not None:
            self._thread.join()
            if self._result:
                return self._result[0]
        return self._query(self._reader)
