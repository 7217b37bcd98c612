"""Cohort summaries: one analyte across subjects, by visit, subject group, method or biofluid
(:func:`summary`), and the replicate sets behind them (:func:`points`).

Read with plain SQL from the replicate-set table (``readout_sets``, through
:mod:`exolab.services.set_reads`) on a :class:`exolab.db.raw.Reader`; this module imports
neither SQLAlchemy nor pydantic, so that ``exolab cohort`` can run it on the driver alone, and
:func:`exolab.services.queries.cohort_summary` runs the same functions on a service
transaction and wraps the rows in pydantic models. The conventions (standard unit,
replicates, baseline) are those of :mod:`exolab.services.queries` (docs/longitudinal.md).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from exolab.db.raw import Reader, Row, in_list
from exolab.domain.replicates import (
    Baseline,
    BaselineFinder,
    baselines,
    censor_direction,
    change_from,
    exact_change,
)
from exolab.domain.statistics import describe
from exolab.domain.visits import visit_day
from exolab.services.errors import FieldError, ValidationFailed
from exolab.services.history import Units, analyte_ids, check_study, first_collections
from exolab.services.set_reads import Later, SetTerms, read_sets, set_filters, split_sets

__all__ = [
    "BY_VALUES",
    "OUTPUT_FIELDS",
    "SetPoint",
    "SummaryRow",
    "check_by",
    "output_row",
    "points",
    "summary",
    "visit_order",
]


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One row of a cohort summary: the statistics of one analyte's replicate-set values (or
    their changes from baseline, ``measure``) in one group ``value`` of ``by``, in ``unit``."""

    by: str
    value: str | None
    analyte: str
    measure: str  # "value" or "change_from_baseline"
    unit: str | None
    n: int
    n_subjects: int
    n_censored: int
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None
    min: float | None
    max: float | None
    mean_visit_day: float | None = None

    def as_row(self) -> dict[str, Any]:
        """Output fields with the group field named after ``by`` (docs/longitudinal.md)."""
        return output_row(self)


#: The fields of a summary row as output, after the group field (:func:`output_row`).
OUTPUT_FIELDS = (
    "analyte", "measure", "n", "n_subjects", "n_censored", "mean", "sd",
    "median", "q1", "q3", "min", "max", "unit",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SetPoint:
    """One replicate set behind a cohort summary: its value (or change from baseline), where
    it comes from, its baseline and visit day."""

    subject_id: str
    group: str | None
    visit: str | None
    visit_day: int | None
    biofluid: str
    method: str | None
    sample_id: str
    assay: str
    by_value: str | None
    value: float | None
    censored: bool
    limit: float | None
    unit: str
    baseline_value: float | None
    baseline_censor: str | None = None


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


# The values a cohort can be grouped by, listed cheaply (see :func:`cohort_sets`).
_BY_VALUES = {
    "visit": "SELECT DISTINCT label FROM visits",
    "group": "SELECT DISTINCT group_name FROM subjects WHERE group_name IS NOT NULL",
    "method": "SELECT DISTINCT method FROM isolations",
    "biofluid": "SELECT DISTINCT biofluid FROM samples",
}
_MAX_CELLS = 64  # beyond this many values a CASE over them costs more than it saves


def _cell_sql(
    reader: Reader, by: str, terms: SetTerms, params: dict[str, Any]
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
    terms = SetTerms(reader, analyte_pk, units, params)
    # Whether sets split over two convertible units must be merged: asked beside the main
    # read when a second connection can be opened (it almost never is the case, and reading
    # again merged then costs less than waiting for the answer every time).
    split = (
        Later(reader, functools.partial(split_sets, analyte_pk=analyte_pk, into=terms.into))
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
    sql += set_filters(params, biofluid, method)
    width = (3 if cell is None else 2) + (3 if change else 0) + 1  # columns, with the mean
    mean_at = 4 if cell is None else 3
    # merged: by position, as the cell's expression holds parameters
    plain = ", ".join(str(k) for k in range(1, width + 1) if k != mean_at)
    merged = sql + f" GROUP BY a.sample_id, a.isolation_id, a.assay, a.run_code, {plain}"

    def read(merge: bool) -> list[Row]:
        statement = merged if merge else sql
        rows = read_sets(reader, statement.replace("{mean}", terms.value(merge)), params)
        return terms.resolve(rows, mean_at - 1, merge)

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


def summary(
    reader: Reader,
    analyte: str,
    study: str | None = None,
    by: str = "visit",
    change: bool = False,
    *,
    biofluid: str | None = None,
    method: str | None = None,
) -> list[SummaryRow]:
    """The rows of :func:`exolab.services.queries.cohort_summary` (the fields of its
    ``CohortRow``, see there for what they mean), in its order."""
    check_by(by)
    (analyte_pk,) = analyte_ids(reader, [analyte])
    check_study(reader, study)
    units = Units(reader)
    code, std = units.code[analyte_pk], units.standard(analyte_pk)
    visit_days = (
        Later(reader, functools.partial(visit_order, study=study)) if by == "visit" else None
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
        stats = describe(vals)
        rows.append(
            SummaryRow(
                by=by,
                value=value,
                analyte=code,
                measure="change_from_baseline" if change else "value",
                unit=unit,
                n=len(vals),
                n_subjects=len({r[0] for r in members}),
                n_censored=n_censored,
                mean=stats.mean,
                sd=stats.sd,
                median=stats.median,
                q1=stats.q1,
                q3=stats.q3,
                min=stats.min,
                max=stats.max,
                mean_visit_day=visit_day.get(value) if value is not None else None,
            )
        )

    def order(row: SummaryRow) -> tuple[Any, ...]:
        day = row.mean_visit_day
        return (
            row.unit != std,
            row.unit or "",
            row.value is None,
            day if day is not None else math.inf,
            row.value or "",
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
) -> list[SetPoint]:
    """The rows of :func:`exolab.services.queries.cohort_points` (the fields of its
    ``CohortPoint``): one per replicate set behind :func:`summary` (the same sets, units
    and merging), with where it comes from, its baseline and visit day."""
    check_by(by)
    (analyte_pk,) = analyte_ids(reader, [analyte])
    check_study(reader, study)
    units = Units(reader)
    params: dict[str, Any] = {"analyte": analyte_pk}
    terms = SetTerms(reader, analyte_pk, units, params)
    merge = terms.may_merge and split_sets(reader, analyte_pk, terms.into)
    context = (
        "s.subject_id, su.subject_code, su.group_name, v.label, s.collected_at, s.biofluid, "
        f"i.method, s.sample_code, a.assay, {terms.unit}"
    )
    sql = (
        f"SELECT {context}, {terms.value(merge)}, {terms.limit(merge)} FROM readout_sets a "
        "JOIN samples s ON s.id = a.sample_id JOIN subjects su ON su.id = s.subject_id "
        "LEFT OUTER JOIN visits v ON v.id = s.visit_id "
        "LEFT OUTER JOIN isolations i ON i.id = a.isolation_id"
    )
    if study:
        sql += " JOIN studies st ON st.id = su.study_id AND st.code = :study"
        params["study"] = study
    sql += " WHERE a.analyte_id = :analyte" + set_filters(params, biofluid, method)
    if merge:  # by position: the unit column's expression holds parameters
        sql += " GROUP BY a.sample_id, a.isolation_id, a.run_code, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
    rows = terms.resolve(reader.all(sql, params), 10, merge)
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
            SetPoint(
                subject_id=subject,
                group=group,
                visit=visit,
                visit_day=visit_day(at, day0) if day0 else None,
                biofluid=fluid,
                method=meth,
                sample_id=sample,
                assay=assay,
                by_value=row[by_at],
                value=value,
                censored=mean is None or (change and base is not None and base.censored),
                limit=limit,
                unit=unit,
                baseline_value=None if base is None else base.value,
                baseline_censor=None if base is None else base.censor,
            )
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
        for code, censor, comparator in reader.all(
            "SELECT DISTINCT s.sample_code, r.censor, r.comparator FROM readouts r JOIN samples s "
            f"ON s.id = r.sample_id WHERE s.sample_code IN {chunk} "
            "AND r.analyte_id = :analyte AND r.censor <> 'none'",
            params,
        ):
            directions.setdefault(code, set()).add(censor_direction(censor, comparator))
    finder = BaselineFinder()
    for r in rows:
        direction = None
        if r[10] is None:
            found_dirs = directions.get(r[7], set())
            direction = found_dirs.pop() if len(found_dirs) == 1 else None
        finder.add((r[0], r[5], r[6], r[9]), r[4], r[10], direction, r[11])
    return finder.result()


def output_row(row: SummaryRow) -> dict[str, Any]:
    """A summary row with its group field named after ``by`` (docs/longitudinal.md)."""
    out: dict[str, Any] = {row.by: row.value}
    for key in OUTPUT_FIELDS:
        out[key] = getattr(row, key)
    return out
