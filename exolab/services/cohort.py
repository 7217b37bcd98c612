"""Cohort summaries: one analyte across subjects, by visit, subject group, method or biofluid.

Read with plain SQL from the replicate-set summary table (``readout_sets``) through a
:class:`exolab.db.raw.Reader`; this module imports neither SQLAlchemy nor pydantic, so that
``exolab cohort`` can run it on the driver alone, and :func:`exolab.services.queries.cohort_summary`
runs the same functions on a service transaction and wraps the rows in pydantic models. The
conventions (standard unit, replicates, baseline) are those of :mod:`exolab.services.queries`.
"""

from __future__ import annotations

import functools
import math
import operator
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from exolab.db.raw import Reader, in_list, second
from exolab.domain.replicates import (
    Baseline,
    BaselineFinder,
    baselines,
    censor_direction,
    change_from,
    exact_change,
    summarise,
)
from exolab.domain.visits import visit_day
from exolab.services.errors import FieldError, ValidationFailed
from exolab.services.history import (
    Units,
    analyte_ids,
    check_study,
    first_collections,
)

T = TypeVar("T")

BY_VALUES = ("visit", "group", "method", "biofluid")

# The column a cohort is grouped by (aliases of the statement in :func:`cohort_sets`).
_BY_COLUMN = {
    "visit": "v.label",
    "group": "su.group_name",
    "method": "i.method",
    "biofluid": "s.biofluid",
}


def check_by(by: str) -> None:
    if by not in BY_VALUES:
        raise ValidationFailed(
            [FieldError("by", "must be one of visit, group, method, biofluid", by)]
        )


def describe(values: list[float]) -> dict[str, float | None]:
    """n-independent summary: mean, sample SD (n >= 2), median, quartiles (linear
    interpolation between order statistics, as numpy's default / R type 7), min, max."""
    if not values:
        return dict.fromkeys(("mean", "sd", "median", "q1", "q3", "min", "max"))
    xs = sorted(values)
    n = len(xs)
    mean = math.fsum(xs) / n
    sd = None
    if n > 1:
        dev = [x - mean for x in xs]
        sd = math.sqrt(math.fsum(map(operator.mul, dev, dev)) / (n - 1))

    def quantile(p: float) -> float:
        h = (n - 1) * p
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        return xs[lo] + (h - lo) * (xs[hi] - xs[lo])

    return {
        "mean": mean,
        "sd": sd,
        "median": quantile(0.5),
        "q1": quantile(0.25),
        "q3": quantile(0.75),
        "min": xs[0],
        "max": xs[-1],
    }


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


# The distinct units of an analyte's sets, one index probe per unit on
# ix_readout_sets_analyte_unit (a loose index scan; DISTINCT reads every set of the analyte).
_UNITS = (
    "WITH RECURSIVE u(unit) AS (SELECT min(unit) FROM readout_sets WHERE analyte_id = :analyte"
    " UNION ALL SELECT (SELECT min(r.unit) FROM readout_sets r WHERE r.analyte_id = :analyte"
    " AND r.unit > u.unit) FROM u WHERE u.unit IS NOT NULL)"
    " SELECT unit FROM u WHERE unit IS NOT NULL"
)


class _SetTerms:
    """SQL for a replicate set's unit, total and count in the analyte's standard unit
    (conversion factors from :class:`Units` as parameters, added to ``params``) and the unit
    each stored unit is reported in. ``into`` groups the units converted into each standard
    unit: when one has several, sets split over two of them may have to be merged
    (:func:`split_sets`; then :meth:`mean` sums totals and counts for a GROUP BY over the
    set's target, assay and run)."""

    def __init__(self, reader: Reader, analyte_pk: int, units: Units, params: dict[str, Any]):
        std = units.standard(analyte_pk)
        factor: dict[str, float] = {}
        self.into: dict[str, list[str]] = {}  # standard unit -> the units converted into it
        found = reader.all(_UNITS, {"analyte": analyte_pk})
        self.reported: dict[str, str] = {}  # stored unit -> unit of the results
        for unit in sorted((u for (u,) in found), key=lambda u: (u != std, u)):  # std first
            f = 1.0 if std is None or unit == std else units.factor(unit, std)
            out = unit if f is None else str(std or unit)
            self.into.setdefault(out, []).append(unit)
            self.reported[unit] = out
            if f is not None and unit != std:
                factor[unit] = f
        self.may_merge = any(len(v) > 1 for v in self.into.values())
        self.unit, self.scale = "a.unit", ""  # scale: the factor to the standard unit
        if factor:
            params["std"] = std
            whens_unit, whens_factor = [], []
            for i, (u, f) in enumerate(sorted(factor.items())):
                params[f"u{i}"], params[f"f{i}"] = u, f
                whens_unit.append(f"WHEN :u{i} THEN :std")
                whens_factor.append(f"WHEN :u{i} THEN :f{i}")
            self.unit = f"CASE a.unit {' '.join(whens_unit)} ELSE a.unit END"
            self.scale = f" * CASE a.unit {' '.join(whens_factor)} ELSE 1.0 END"

    def mean(self, merge: bool) -> str:
        """The set's mean; with ``merge``, of the sets merged by a GROUP BY."""
        if merge:
            return f"CASE WHEN sum(a.n) > 0 THEN sum(a.total{self.scale}) / sum(a.n) END"
        return f"CASE WHEN a.n > 0 THEN a.total{self.scale} / a.n END"

    def limit(self, merge: bool) -> str:
        """The highest limit of the set's censored replicates (NULL when none was)."""
        return f"max(a.censor_limit{self.scale})" if merge else f"a.censor_limit{self.scale}"


# The values a cohort can be grouped by, listed cheaply (see :func:`cohort_sets`).
_BY_VALUES = {
    "visit": "SELECT DISTINCT label FROM visits",
    "group": "SELECT DISTINCT group_name FROM subjects WHERE group_name IS NOT NULL",
    "method": "SELECT DISTINCT method FROM isolations",
    "biofluid": "SELECT DISTINCT biofluid FROM samples",
}
_WORK_MEM = "64MB"
_MAX_CELLS = 64  # beyond this many values a CASE over them costs more than it saves


def _cell_sql(
    reader: Reader, by: str, terms: _SetTerms, params: dict[str, Any]
) -> tuple[str, dict[int, tuple[Any, str]]] | None:
    """A cohort cell (value grouped by x unit) as one small integer computed in SQL, and
    what each integer stands for; None when there are too many values for that to pay.
    Creating two Python strings per replicate set costs more than the whole join in the
    database, and integers below 257 are shared objects. A value that was not listed (one
    written after the listing) makes the cell NULL, and :func:`cohort_sets` reads again."""
    values = sorted(v for (v,) in reader.all(_BY_VALUES[by]) if v is not None)
    units = sorted(set(terms.reported.values()))
    if len(values) + 1 > _MAX_CELLS or not units:
        return None
    col = _BY_COLUMN[by]
    whens = []
    for i, value in enumerate(values):
        params[f"c{i}"] = value
        whens.append(f"WHEN :c{i} THEN {i + 1}")
    by_index = f"coalesce(CASE {col} {' '.join(whens)} END, CASE WHEN {col} IS NULL THEN 0 END)"
    if not whens:
        by_index = f"CASE WHEN {col} IS NULL THEN 0 END"
    unit_whens = []
    for i, (stored, reported) in enumerate(sorted(terms.reported.items())):
        params[f"w{i}"] = stored
        unit_whens.append(f"WHEN :w{i} THEN {units.index(reported)}")
    unit_index = f"CASE a.unit {' '.join(unit_whens)} END"
    stands_for = {
        b * len(units) + u: (None if b == 0 else values[b - 1], unit)
        for b in range(len(values) + 1)
        for u, unit in enumerate(units)
    }
    return f"{by_index} * {len(units)} + {unit_index}", stands_for


def _read_sets(reader: Reader, sql: str, params: dict[str, Any]) -> list[Any]:
    """Rows of a sets query. PostgreSQL's hash join over the samples spills to disk at the
    default 4 MB of work_mem once a lab has ~200k samples; the query gets more (for itself:
    the setting is put back after it, and is local to the transaction anyway)."""
    if reader.sqlite:
        return reader.all(sql, params)
    (before,) = reader.first("SELECT current_setting('work_mem')")
    reader.first("SELECT set_config('work_mem', :mem, true)", {"mem": _WORK_MEM})
    try:
        return reader.all(sql, params)
    finally:
        reader.first("SELECT set_config('work_mem', :mem, true)", {"mem": before})


def cohort_sets(
    reader: Reader,
    analyte_pk: int,
    units: Units,
    by: str,
    *,
    change: bool,
    study: str | None,
    biofluid: str | None,
    method: str | None,
    cells: bool = True,
) -> tuple[dict[Any, list[Any]], dict[Any, tuple[Any, Any]]]:
    """The replicate sets behind :func:`summary`, lean, by cell.

    One row per set: ``(subject_pk, cell, mean)`` with the mean in the standard unit (None
    when every replicate was censored), then for ``change`` ``collected_at, biofluid,
    method``; and what each cell stands for: ``(value grouped by, unit)``. The database
    converts units and divides (factors from :class:`Units`, passed as parameters), and
    merges sets that differ only in a convertible unit (ng/mL and pg/mL in one run) when the
    analyte has such sets; only the tables a summary needs are joined. At 10 million
    readouts an analyte has ~200k sets, and creating the driver's Python objects is most of
    the cost: hence a cell is a small integer when it can be (:func:`_cell_sql`).
    """
    params: dict[str, Any] = {"analyte": analyte_pk}
    terms = _SetTerms(reader, analyte_pk, units, params)
    # Whether sets split over two convertible units must be merged: asked beside the main
    # read when a second connection can be opened (it almost never is the case, and reading
    # again merged then costs less than waiting for the answer every time).
    split = (
        _Later(reader, functools.partial(split_sets, analyte_pk=analyte_pk, into=terms.into))
        if terms.may_merge
        else None
    )
    cell = _cell_sql(reader, by, terms, params) if cells else None
    cell_col = f"{_BY_COLUMN[by]}, {terms.unit}" if cell is None else cell[0]
    sql = f"SELECT s.subject_id, {cell_col}, {{mean}}"
    if change:
        # compared as stored (ISO text on SQLite, a datetime on PostgreSQL), never parsed
        sql += ", s.collected_at, s.biofluid, i.method"
    sql += " FROM readout_sets a JOIN samples s ON s.id = a.sample_id"
    if change or method or by == "method":
        sql += " LEFT OUTER JOIN isolations i ON i.id = a.isolation_id"
    if by == "group" or study:
        sql += " JOIN subjects su ON su.id = s.subject_id"
    if by == "visit":
        sql += " LEFT OUTER JOIN visits v ON v.id = s.visit_id"
    if study:
        sql += " JOIN studies st ON st.id = su.study_id AND st.code = :study"
        params["study"] = study
    sql += " WHERE a.analyte_id = :analyte AND s.subject_id IS NOT NULL"
    sql += _filters(params, biofluid, method)
    width = (3 if cell is None else 2) + (3 if change else 0) + 1  # columns, with the mean
    mean_at = 4 if cell is None else 3
    # merged: by position, as the cell's expression holds parameters
    plain = ", ".join(str(k) for k in range(1, width + 1) if k != mean_at)
    merged = sql + f" GROUP BY a.sample_id, a.isolation_id, a.assay, a.run_code, {plain}"

    def read(merge: bool) -> list[Any]:
        statement = merged if merge else sql
        return _read_sets(reader, statement.replace("{mean}", terms.mean(merge)), params)

    merge = split is not None and not split.beside and split()
    found = read(merge)
    if split is not None and split.beside and split():
        found = read(True)
    if cell is None:
        by_cell = _group([(r[0], (r[1], r[2]), *r[3:]) for r in found])
        return by_cell, {key: key for key in by_cell}
    by_cell = _group(found)
    if None not in by_cell:
        return by_cell, cell[1]
    return cohort_sets(  # a value written since it was listed: read plainly
        reader,
        analyte_pk,
        units,
        by,
        change=change,
        study=study,
        biofluid=biofluid,
        method=method,
        cells=False,
    )


def _group(rows: list[Any]) -> dict[Any, list[Any]]:
    """Rows by their second column (the cell)."""
    by_cell: dict[Any, list[Any]] = {}
    for row in rows:
        members = by_cell.get(row[1])
        if members is None:
            members = by_cell[row[1]] = []
        members.append(row)
    return by_cell


def visit_order(reader: Reader, study: str | None) -> dict[str, float]:
    """Mean visit day of each visit label over the subjects (of ``study``) that had it: a
    subject's visit day of a visit is the day (:func:`exolab.domain.visits.visit_day`, here
    in SQL) of the visit's earliest collection, counted from the subject's first collection
    over all of its samples. Only orders visits."""
    params: dict[str, Any] = {}
    where = "subject_id IS NOT NULL"
    if study:
        where += (
            " AND subject_id IN (SELECT subjects.id FROM subjects JOIN studies"
            " ON studies.id = subjects.study_id WHERE studies.code = :study)"
        )
        params["study"] = study
    # calendar days: dates compared, not times (julianday of the ISO text's date on SQLite)
    day = "julianday(date({}))" if reader.sqlite else "(CAST({} AS DATE) - DATE '2000-01-01')"
    sql = (
        f"SELECT v.label, avg({day.format('vm.at')} - {day.format('f.first')}) FROM "
        f"(SELECT subject_id, visit_id, min(collected_at) AS at FROM samples WHERE {where} "
        "AND visit_id IS NOT NULL GROUP BY subject_id, visit_id) vm "
        f"JOIN (SELECT subject_id, min(collected_at) AS first FROM samples WHERE {where} "
        "GROUP BY subject_id) f ON f.subject_id = vm.subject_id "
        "JOIN visits v ON v.id = vm.visit_id GROUP BY v.label"
    )
    return {label: float(d) for label, d in reader.all(sql, params)}


class _Later(Generic[T]):
    """``query(reader)`` started on a second connection in a thread (``beside`` is True)
    while the caller reads on; calling this waits for its result. The database works
    without Python's lock (SQLite in its C code, PostgreSQL in its server), so a small query
    (the visit order, ~0.13 s at 10 million readouts; the split-unit probe) costs no wall
    time beside the cohort's main read. Without a second connection (a write transaction, a
    database in memory), or if it fails, the query runs on ``reader`` when called."""

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
                other.connection.close()
        except Exception:  # run again on the caller's connection, which reports it
            return

    def __call__(self) -> T:
        if self._thread is not None:
            self._thread.join()
            if self._result:
                return self._result[0]
        return self._query(self._reader)


def summary(
    reader: Reader,
    analyte: str,
    study: str | None = None,
    by: str = "visit",
    change: bool = False,
    *,
    biofluid: str | None = None,
    method: str | None = None,
) -> list[dict[str, Any]]:
    """The rows of :func:`exolab.services.queries.cohort_summary` as dicts with the fields of
    its ``CohortRow`` (see there for what they mean), in its order."""
    check_by(by)
    (analyte_pk,) = analyte_ids(reader, [analyte])
    check_study(reader, study)
    units = Units(reader)
    code, std = units.code[analyte_pk], units.standard(analyte_pk)
    visit_days = (
        _Later(reader, functools.partial(visit_order, study=study)) if by == "visit" else None
    )
    by_cell, stands_for = cohort_sets(
        reader, analyte_pk, units, by, change=change, study=study, biofluid=biofluid, method=method
    )
    visit_day = visit_days() if visit_days is not None else {}
    found: dict[Any, Baseline] = {}
    if change:  # the direction of a censored baseline does not matter here: no number
        found = baselines(
            ((r[0], r[4], r[5], stands_for[cell][1]), r[3], r[2], None, None)
            for cell, members in by_cell.items()
            for r in members
        )
    rows = []
    for cell, members in by_cell.items():
        value, unit = stands_for[cell]
        means = [r[2] for r in members]
        n_censored = means.count(None)
        if change:
            vals = []
            for r in members:
                base = found.get((r[0], r[4], r[5], unit))
                if r[2] is None or base is None:
                    continue
                if base.censor is not None:  # a change against a censored baseline: a bound
                    n_censored += 1
                elif (d := exact_change(r[2], base)) is not None:
                    vals.append(d)
        else:
            vals = [m for m in means if m is not None]
        rows.append(
            {
                "by": by,
                "value": value,
                "analyte": code,
                "measure": "change_from_baseline" if change else "value",
                "unit": unit,
                "n": len(vals),
                "n_subjects": len({r[0] for r in members}),
                "n_censored": n_censored,
                "mean_visit_day": visit_day.get(value) if value is not None else None,
                **describe(vals),
            }
        )

    def order(row: dict[str, Any]) -> tuple[Any, ...]:
        day = row["mean_visit_day"]
        return (
            row["unit"] != std,
            row["unit"] or "",
            row["value"] is None,
            day if day is not None else math.inf,
            row["value"] or "",
        )

    return sorted(rows, key=order)


def points(
    reader: Reader,
    analyte: str,
    study: str | None = None,
    by: str = "visit",
    change: bool = False,
    *,
    biofluid: str | None = None,
    method: str | None = None,
) -> list[dict[str, Any]]:
    """The rows of :func:`exolab.services.queries.cohort_points` as dicts with the fields of
    its ``CohortPoint``: one per replicate set behind :func:`summary` (the same sets, units
    and merging), with where it comes from, its baseline and visit day."""
    check_by(by)
    (analyte_pk,) = analyte_ids(reader, [analyte])
    check_study(reader, study)
    units = Units(reader)
    params: dict[str, Any] = {"analyte": analyte_pk}
    terms = _SetTerms(reader, analyte_pk, units, params)
    merge = terms.may_merge and split_sets(reader, analyte_pk, terms.into)
    context = (
        "s.subject_id, su.subject_code, su.group_name, v.label, s.collected_at, s.biofluid, "
        f"i.method, s.sample_code, a.assay, {terms.unit}"
    )
    sql = (
        f"SELECT {context}, {terms.mean(merge)}, {terms.limit(merge)} FROM readout_sets a "
        "JOIN samples s ON s.id = a.sample_id JOIN subjects su ON su.id = s.subject_id "
        "LEFT OUTER JOIN visits v ON v.id = s.visit_id "
        "LEFT OUTER JOIN isolations i ON i.id = a.isolation_id"
    )
    if study:
        sql += " JOIN studies st ON st.id = su.study_id AND st.code = :study"
        params["study"] = study
    sql += " WHERE a.analyte_id = :analyte" + _filters(params, biofluid, method)
    if merge:  # by position: the unit column's expression holds parameters
        sql += " GROUP BY a.sample_id, a.isolation_id, a.run_code, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
    rows = reader.all(sql, params)
    pks = sorted({r[0] for r in rows})
    first = first_collections(reader, pks if len(pks) < 500 else None)
    baselines = _point_baselines(reader, analyte_pk, rows)
    by_at = {"visit": 3, "group": 2, "method": 6, "biofluid": 5}[by]  # its column
    out = []
    for row in rows:
        subject_pk, subject, group, visit, at, fluid, meth, sample, assay, unit, mean, limit = row
        day0 = first.get(subject_pk)
        base = baselines.get((subject_pk, fluid, meth, unit))
        value = mean
        if change:
            value = None if base is None or base.censored else change_from(mean, base).change
        out.append(
            {
                "subject_id": subject,
                "group": group,
                "visit": visit,
                "visit_day": visit_day(at, day0) if day0 else None,
                "biofluid": fluid,
                "method": meth,
                "sample_id": sample,
                "assay": assay,
                "by_value": row[by_at],
                "value": value,
                "censored": mean is None or (change and base is not None and base.censored),
                "limit": limit,
                "unit": unit,
                "baseline_value": None if base is None else base.value,
                "baseline_censor": None if base is None else base.censor,
            }
        )
    return out


def _point_baselines(reader: Reader, analyte_pk: int, rows: list[Any]) -> dict[Any, Baseline]:
    """Baseline per (subject, biofluid, method, unit) of the rows of :func:`points`. The
    replicate-set table keeps no comparator, so the direction of a censored baseline is
    read from the readouts of the few samples whose sets make one."""
    first = BaselineFinder()
    for r in rows:
        first.add((r[0], r[5], r[6], r[9]), r[4], r[10], None, r[11])
    found = first.result()
    censored = {k: b.at for k, b in found.items() if b.censored}
    if not censored:
        return found
    codes = sorted({r[7] for r in rows if censored.get((r[0], r[5], r[6], r[9]), ()) == r[4]})
    directions: dict[str, set[str | None]] = {}
    for i in range(0, len(codes), 900):
        params: dict[str, Any] = {"analyte": analyte_pk}
        chunk = in_list("code", codes[i : i + 900], params)
        for code, censor in reader.all(
            "SELECT DISTINCT s.sample_code, r.censor FROM readouts r JOIN samples s "
            f"ON s.id = r.sample_id WHERE s.sample_code IN {chunk} "
            "AND r.analyte_id = :analyte AND r.censor <> 'none'",
            params,
        ):
            directions.setdefault(code, set()).add(censor_direction(censor))
    finder = BaselineFinder()
    for r in rows:
        direction = None
        if r[10] is None:
            found_dirs = directions.get(r[7], set())
            direction = found_dirs.pop() if len(found_dirs) == 1 else None
        finder.add((r[0], r[5], r[6], r[9]), r[4], r[10], direction, r[11])
    return finder.result()


def _filters(params: dict[str, Any], biofluid: str | None, method: str | None) -> str:
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


def output_row(row: dict[str, Any]) -> dict[str, Any]:
    """A summary row with its group field named after ``by`` (docs/longitudinal.md)."""
    out: dict[str, Any] = {row["by"]: row["value"]}
    for key in ("analyte", "measure", "n", "n_subjects", "n_censored", "mean", "sd"):
        out[key] = row[key]
    for key in ("median", "q1", "q3", "min", "max", "unit"):
        out[key] = row[key]
    return out


# -- method comparison ----------------------------------------------------------------------


def _ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=xs.__getitem__)
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson correlation, or None with fewer than 3 pairs or a constant variable."""
    n = len(xs)
    if n < 3:
        return None
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman rank correlation (Pearson on average ranks, so ties are handled)."""
    return pearson(_ranks(xs), _ranks(ys)) if len(xs) >= 3 else None


def _mean_of(values: list[float | None]) -> float | None:
    """Summary of the uncensored values (None when there are none), by the replicate rule."""
    if len(values) == 1:
        return values[0]
    found = [v for v in values if v is not None]
    return summarise(found, len(values) - len(found)).mean


def sample_roots(reader: Reader, analyte_pk: int) -> dict[int, int]:
    """The top ancestor of each aliquot that has a result of the analyte on an isolation
    (aliquots of one tube share a root; a sample without a parent is its own root and is
    not listed). Walked up in the database, at most 32 generations (a longer chain, or a
    cycle, keeps the ancestor reached)."""
    sql = (
        "WITH RECURSIVE up(start, cur, depth) AS ("
        " SELECT s.id, s.parent_id, 1 FROM samples s WHERE s.parent_id IS NOT NULL AND s.id IN"
        " (SELECT sample_id FROM readout_sets WHERE analyte_id = :analyte"
        " AND isolation_id IS NOT NULL)"
        " UNION ALL SELECT up.start, p.parent_id, up.depth + 1 FROM up"
        " JOIN samples p ON p.id = up.cur WHERE p.parent_id IS NOT NULL AND up.depth < 32)"
        " SELECT up.start, up.cur FROM up JOIN samples p ON p.id = up.cur"
        " WHERE p.parent_id IS NULL OR up.depth = 32"
    )
    return dict(reader.all(sql, {"analyte": analyte_pk}))


def compare(
    reader: Reader, analyte: str, study: str | None = None, *, with_pairs: bool = False
) -> list[dict[str, Any]]:
    """The rows of :func:`exolab.services.queries.compare_methods` as dicts with the fields
    of its ``MethodPair`` (``pairs``: dicts with ``sample_id``, ``a``, ``b``, by sample)."""
    (analyte_pk,) = analyte_ids(reader, [analyte])
    check_study(reader, study)
    units = Units(reader)
    params: dict[str, Any] = {"analyte": analyte_pk}
    terms = _SetTerms(reader, analyte_pk, units, params)
    merge = terms.may_merge and split_sets(reader, analyte_pk, terms.into)
    cols = ["a.sample_id", "a.assay", terms.unit, "i.method", terms.mean(merge)]
    sql = f"SELECT {', '.join(cols)} FROM readout_sets a JOIN isolations i ON i.id = a.isolation_id"
    if study:
        sql += (
            " JOIN samples s ON s.id = a.sample_id JOIN subjects su ON su.id = s.subject_id"
            " JOIN studies st ON st.id = su.study_id AND st.code = :study"
        )
        params["study"] = study
    sql += " WHERE a.analyte_id = :analyte AND a.isolation_id IS NOT NULL"
    if merge:  # by position: the unit column's expression holds parameters
        sql += " GROUP BY a.isolation_id, a.run_code, 1, 2, 3, 4"
    roots = sample_roots(reader, analyte_pk)
    # (root, assay, unit) -> method -> [set means (None: censored)]
    cell: dict[tuple[Any, ...], dict[str, list[float | None]]] = {}
    for sample_pk, assay, unit, meth, mean in reader.all(sql, params):
        key = (roots.get(sample_pk, sample_pk), assay, unit)
        by_method = cell.get(key)
        if by_method is None:
            by_method = cell[key] = {}
        by_method.setdefault(meth or "", []).append(mean)
    pairs: dict[tuple[Any, ...], tuple[list[tuple[int, float, float]], list[int]]] = {}
    for (root, assay, unit), by_method in cell.items():
        methods = sorted(by_method)
        for i, ma in enumerate(methods):
            for mb in methods[i + 1 :]:
                acc = pairs.get((assay, unit, ma, mb))
                if acc is None:
                    acc = pairs[(assay, unit, ma, mb)] = ([], [0])
                a, b = _mean_of(by_method[ma]), _mean_of(by_method[mb])
                if a is None or b is None:
                    acc[1][0] += 1
                    continue
                acc[0].append((root, a, b))
    codes: dict[int, str] = {}
    if with_pairs:
        wanted = sorted({root for found, _ in pairs.values() for root, _a, _b in found})
        for i in range(0, len(wanted), 900):
            batch: dict[str, Any] = {}
            chunk = in_list("pk", wanted[i : i + 900], batch)
            codes.update(
                reader.all(f"SELECT id, sample_code FROM samples WHERE id IN {chunk}", batch)
            )
    out = []
    code = units.code[analyte_pk]
    for (assay, unit, ma, mb), (found, censored) in sorted(
        pairs.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2], kv[0][3])
    ):
        xa = [a for _r, a, _b in found]
        xb = [b for _r, _a, b in found]
        d = describe([b - a for a, b in zip(xa, xb, strict=True)])
        mean_d, sd_d = d["mean"], d["sd"]
        out.append(
            {
                "analyte": code,
                "assay": assay,
                "unit": unit,
                "method_a": ma,
                "method_b": mb,
                "n_pairs": len(found),
                "n_censored_pairs": censored[0],
                "mean_a": math.fsum(xa) / len(xa) if xa else None,
                "mean_b": math.fsum(xb) / len(xb) if xb else None,
                "mean_difference": mean_d,
                "sd_difference": sd_d,
                "loa_lower": None if mean_d is None or sd_d is None else mean_d - 1.96 * sd_d,
                "loa_upper": None if mean_d is None or sd_d is None else mean_d + 1.96 * sd_d,
                "pearson_r": pearson(xa, xb),
                "spearman_rho": spearman(xa, xb),
                "pairs": [
                    {"sample_id": codes[r], "a": a, "b": b}
                    for r, a, b in sorted(found, key=lambda t: codes[t[0]])
                ]
                if with_pairs
                else [],
            }
        )
    return out
