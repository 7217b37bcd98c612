"""The longitudinal stream: one row per readout with visit day, standard value, replicate
summary and change from baseline, read with plain SQL (:mod:`exolab.db.raw`).

This module imports neither SQLAlchemy nor pydantic, so that ``exolab patient`` can run it
on the driver alone; :mod:`exolab.services.queries` runs the same functions on a service
transaction's connection and wraps the rows in its pydantic models. The conventions (standard
unit, replicates, visit_day, baseline) are described in :mod:`exolab.services.queries`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NotRequired, TypedDict, cast

from exolab.db.raw import Reader, in_list
from exolab.domain import decimals, visits
from exolab.domain.replicates import (
    BaselineFinder,
    SetSummary,
    censor_direction,
    change_from,
    set_limit,
    summarise,
)
from exolab.domain.units import UnitError, convert
from exolab.domain.visits import visit_day as visit_day_of
from exolab.services.analyte_lookup import find_analyte
from exolab.services.errors import NotFound

#: Columns of a longitudinal row, in export order (docs/longitudinal.md, "Fields of a
#: longitudinal row").
LONGITUDINAL_COLUMNS: list[str] = [
    "study",
    "subject_id",
    "group",
    "visit",
    "visit_day",
    "collected_at",
    "sample_id",
    "biofluid",
    "isolation_id",
    "method",
    "analyte",
    "assay",
    "run_id",
    "value",
    "comparator",
    "censor",
    "qualitative",
    "numeric_value",
    "unit",
    "lod",
    "lloq",
    "uloq",
    "replicate",
    "qc",
    "std_value",
    "std_unit",
    "replicate_mean",
    "replicate_n",
    "replicate_n_censored",
    "replicate_cv",
    "baseline_flag",
    "baseline_value",
    "baseline_censor",
    "change_from_baseline",
    "pct_change_from_baseline",
    "fold_change",
    "change_censor",
]


class LongitudinalRow(TypedDict):
    """One row of the longitudinal stream: the :data:`LONGITUDINAL_COLUMNS`, in that order
    (docs/longitudinal.md, "Fields of a longitudinal row"), and ``normalisation`` when a
    trajectory was normalised; ``readout_pk`` (the readout's internal number) only when the
    stream was asked for it (``with_ids``: the OMOP export's measurement_id). A dict (not a
    dataclass) because the stream fills it in place group by group and the export writes it
    as it is."""

    study: str | None
    subject_id: str | None
    group: str | None
    visit: str | None
    visit_day: int | None
    collected_at: datetime
    sample_id: str
    biofluid: str
    isolation_id: str | None
    method: str | None
    analyte: str
    assay: str
    run_id: str | None
    value: str
    comparator: str
    censor: str
    qualitative: str | None
    numeric_value: float | None
    unit: str | None
    lod: float | None
    lloq: float | None
    uloq: float | None
    replicate: int
    qc: str | None
    std_value: float | None
    std_unit: str | None
    replicate_mean: float | None
    replicate_n: int
    replicate_n_censored: int
    replicate_cv: float | None
    baseline_flag: str | None
    baseline_value: float | None
    baseline_censor: str | None
    change_from_baseline: float | None
    pct_change_from_baseline: float | None
    fold_change: float | None
    change_censor: str | None
    normalisation: NotRequired[str | None]
    readout_pk: NotRequired[int]


Transform = Callable[[LongitudinalRow], None]


def as_datetime(value: Any) -> datetime:
    """A stored collection time as a datetime (SQLite returns the ISO text SQLAlchemy wrote)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


as_date = visits.as_date


# -- lookups --------------------------------------------------------------------------------


def analyte_ids(reader: Reader, codes: list[str]) -> list[int]:
    """Analyte primary keys for the names given (:func:`exolab.services.analyte_lookup.
    find_analyte`: codes, built-in and admin-added synonyms); an unknown one is a NotFound."""
    ids = []
    for code in codes:
        pk = find_analyte(reader, code)
        if pk is None:
            raise NotFound(f"no analyte {code}")
        ids.append(pk)
    return ids


def check_study(reader: Reader, study: str | None) -> None:
    """A study named as a filter must exist: an unknown one is a NotFound, not an empty result."""
    if (
        study is not None
        and reader.first("SELECT 1 FROM studies WHERE code = :study", {"study": study}) is None
    ):
        raise NotFound(f"no study {study}")


def subject_pks(reader: Reader, study: str | None, subjects: list[str]) -> list[int] | None:
    """Primary keys of the named subjects (of ``study`` if given); None when none are named.
    An unknown one (a typo) is a NotFound naming it, not an empty result."""
    if not subjects:
        return None
    params: dict[str, Any] = {}
    sql = (
        "SELECT subjects.id, subjects.subject_code FROM subjects JOIN studies ON studies.id = "
        f"subjects.study_id WHERE subjects.subject_code IN {in_list('subject', subjects, params)}"
    )
    if study:
        sql += " AND studies.code = :study"
        params["study"] = study
    rows = reader.all(sql, params)
    found = {code for _, code in rows}
    missing = [s for s in dict.fromkeys(subjects) if s not in found]
    if missing:
        where = f" in study {study}" if study else ""
        plural = "s" if len(missing) > 1 else ""
        raise NotFound(f"no subject{plural} {', '.join(missing)}{where}")
    return [int(pk) for pk, _ in rows]


def first_collections(reader: Reader, pks: list[int] | None) -> dict[int, date]:
    """Date of each subject's first collection (over all of its samples)."""
    params: dict[str, Any] = {}
    sql = "SELECT subject_id, min(collected_at) FROM samples WHERE subject_id IS NOT NULL"
    if pks is not None:
        sql += f" AND subject_id IN {in_list('subject', pks, params)}"
    return {
        pk: as_date(at)
        for pk, at in reader.all(sql + " GROUP BY subject_id", params)
        if at is not None
    }


class Units:
    """Standard unit per analyte and cached conversion factors to it."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.code: dict[int, str] = {}
        self.default: dict[int, str | None] = {}
        for pk, code, unit in reader.all("SELECT id, code, default_unit FROM analytes"):
            self.code[pk] = code
            self.default[pk] = unit
        self._std: dict[int, str | None] = {}
        self._factor: dict[tuple[str, str], float | None] = {}

    def standard(self, analyte_pk: int) -> str | None:
        if analyte_pk in self._std:
            return self._std[analyte_pk]
        unit = self.default.get(analyte_pk)
        if not unit:
            # the first recorded unit: lowest sample, then lowest readout id (set summaries
            # hold only readouts with a unit, and each set's lowest readout id)
            row = self.reader.first(
                "SELECT unit FROM readout_sets WHERE analyte_id = :analyte "
                "ORDER BY sample_id, first_readout_id LIMIT 1",
                {"analyte": analyte_pk},
            )
            unit = None if row is None else row[0]
        self._std[analyte_pk] = unit
        return unit

    def factor(self, unit: str, std: str) -> float | None:
        """Multiplier from ``unit`` to ``std``, or None when they do not convert."""
        key = (unit, std)
        if key not in self._factor:
            try:
                self._factor[key] = convert(1.0, unit, std)
            except UnitError:
                self._factor[key] = None
        return self._factor[key]

    def to_std(self, analyte_pk: int, value: float | None, unit: str | None) -> tuple[Any, Any]:
        """(std_value, std_unit) of one result."""
        if unit is None:
            return None, None
        std = self.standard(analyte_pk)
        if std is None or std == unit:
            return value, unit
        f = self.factor(unit, std)
        if f is None:
            return value, unit
        if value is None:
            return None, std
        return (value if f == 1.0 else decimals.scaled(value, f)), std


# -- SQL ------------------------------------------------------------------------------------

# Where a readout comes from (study .. subject pk); then the readout's own columns.
_CONTEXT = (
    "studies.code, subjects.subject_code, subjects.group_name, visits.label, "
    "samples.collected_at, samples.sample_code, samples.biofluid, isolations.isolation_code, "
    "isolations.method, samples.subject_id"
)
_READOUT = (
    "readouts.analyte_id, readouts.assay, readouts.run_code, readouts.value_text, "
    "readouts.comparator, readouts.censor, readouts.qualitative, readouts.value, "
    "readouts.unit, readouts.lod, readouts.lloq, readouts.uloq, readouts.replicate, readouts.qc"
)
# The stream's order, text compared by code point on both databases (PostgreSQL would use the
# database's collation) so that it is the order of SQLite and of Python's sort in
# :func:`subject_rows`.
_STREAM_ORDER = (
    "studies.code{c} NULLS LAST, subjects.subject_code{c} NULLS LAST, readouts.analyte_id, "
    "samples.biofluid{c}, isolations.method{c} NULLS LAST, samples.collected_at, "
    "samples.sample_code{c}, isolations.isolation_code{c} NULLS FIRST, readouts.assay{c}, "
    "readouts.run_code{c}, readouts.replicate"
)
_READOUT_FROM = (
    "readouts JOIN samples ON samples.id = readouts.sample_id "
    "LEFT OUTER JOIN isolations ON isolations.id = readouts.isolation_id"
)


def _filters(
    params: dict[str, Any],
    analyte_pks: list[int] | None,
    biofluid: str | None,
    method: str | None,
) -> str:
    """`` AND ...`` restricting readouts to analytes, a biofluid and a method."""
    sql = ""
    if analyte_pks is not None:
        sql += f" AND readouts.analyte_id IN {in_list('analyte', analyte_pks, params)}"
    if biofluid:
        sql += " AND samples.biofluid = :biofluid"
        params["biofluid"] = biofluid
    if method:
        sql += " AND isolations.method = :method"
        params["method"] = method
    return sql


def stream_sql(
    sqlite: bool,
    study: str | None,
    analyte_pks: list[int] | None,
    biofluid: str | None,
    method: str | None,
    with_ids: bool = False,
) -> tuple[str, dict[str, Any]]:
    """All readouts (of a study) in the stream's order, with their context columns (and
    each readout's id last, ``with_ids``)."""
    params: dict[str, Any] = {}
    join = "JOIN" if study else "LEFT OUTER JOIN"
    ids = ", readouts.id" if with_ids else ""
    sql = (
        f"SELECT {_CONTEXT}, {_READOUT}{ids} FROM {_READOUT_FROM} "
        "LEFT OUTER JOIN visits ON visits.id = samples.visit_id "
        f"{join} subjects ON subjects.id = samples.subject_id "
        f"{join} studies ON studies.id = subjects.study_id WHERE 1 = 1"
    )
    if study:
        sql += " AND studies.code = :study"
        params["study"] = study
    sql += _filters(params, analyte_pks, biofluid, method)
    sql += " ORDER BY " + _STREAM_ORDER.format(c="" if sqlite else ' COLLATE "C"')
    return sql, params


def _context_order(c: tuple[Any, ...]) -> tuple[Any, ...]:
    """Study, subject, biofluid, method (empty last), time, sample, isolation (empty first)
    of a context row (the columns of ``_CONTEXT``): the stream's ORDER BY, in Python."""
    return (c[0], c[1], c[6], c[8] is None, c[8] or "", c[4], c[5], c[7] is not None, c[7] or "")


def subject_rows(
    reader: Reader,
    pks: list[int],
    analyte_pks: list[int] | None,
    biofluid: str | None,
    method: str | None,
    with_ids: bool = False,
) -> tuple[list[tuple[Any, ...]], dict[int, date]]:
    """The stream's rows for a few subjects, made faster: the columns of the readouts'
    samples and isolations (the same for dozens of readouts) come from one small query, the
    readouts' own columns from another, and they are joined and put in the stream's order
    here: the contexts (sample or isolation) are ranked once by study, subject, biofluid,
    method, time, sample and isolation, the readouts sorted by (analyte, context rank, assay,
    run, replicate). Creating the driver's Python objects is most of a subject query's cost;
    sorting by text in the database is not free either (PostgreSQL compares in the
    database's collation). Also returns each subject's first collection date (from all of
    its samples, as :func:`first_collections`). ``with_ids``: each readout's id last, as
    :func:`stream_sql` gives it."""
    params: dict[str, Any] = {}
    subjects = in_list("subject", pks, params)
    info: dict[tuple[int, int | None], tuple[Any, ...]] = {}
    first: dict[int, date] = {}
    for row in reader.all(
        f"SELECT samples.id, isolations.id, {_CONTEXT} FROM samples "
        "JOIN subjects ON subjects.id = samples.subject_id "
        "JOIN studies ON studies.id = subjects.study_id "
        "LEFT OUTER JOIN visits ON visits.id = samples.visit_id "
        "LEFT OUTER JOIN isolations ON isolations.sample_id = samples.id "
        f"WHERE samples.subject_id IN {subjects}",
        params,
    ):
        sample_pk, iso_pk, *cols = row
        cols[4] = at = as_datetime(cols[4])
        day, subject_pk = at.date(), cols[9]
        info[(sample_pk, iso_pk)] = tuple(cols)
        if subject_pk not in first or day < first[subject_pk]:
            first[subject_pk] = day
        if iso_pk is not None:
            cols[7] = cols[8] = None  # the sample itself: no isolation code or method
        info.setdefault((sample_pk, None), tuple(cols))
    order = sorted(info, key=lambda k: _context_order(info[k]))
    rank = {key: i for i, key in enumerate(order)}
    where = f"samples.subject_id IN {subjects}"
    if biofluid:
        where += " AND samples.biofluid = :biofluid"
        params["biofluid"] = biofluid
    if analyte_pks is not None:
        where += f" AND readouts.analyte_id IN {in_list('analyte', analyte_pks, params)}"
    rows = reader.all(
        f"SELECT readouts.sample_id, readouts.isolation_id, {_READOUT}"
        f"{', readouts.id' if with_ids else ''} FROM readouts "
        f"JOIN samples ON samples.id = readouts.sample_id WHERE {where}",
        params,
    )
    if method:  # the method of the readout's isolation (readouts of a sample have none)
        rows = [r for r in rows if info[(r[0], r[1])][8] == method]
    # analyte, context, assay, run, replicate (r[2], r[3], r[4], r[14] of the columns)
    if len(pks) == 1:
        rows.sort(key=lambda r: (r[2], rank[(r[0], r[1])], r[3], r[4], r[14]))
    else:  # the stream's order starts with study and subject
        rows.sort(
            key=lambda r: (
                info[(r[0], r[1])][:2],
                r[2],
                rank[(r[0], r[1])],
                r[3],
                r[4],
                r[14],
            )
        )
    return [info[(r[0], r[1])] + tuple(r[2:]) for r in rows], first


# -- replicate summaries and baselines -------------------------------------------------------


def _summarise_set(members: list[LongitudinalRow]) -> SetSummary:
    """Fill the replicate summary of one replicate set's rows and return it."""
    numbers = []
    n_censored = 0
    for m in members:
        if m["censor"] != "none":
            n_censored += 1
        elif (v := m["std_value"]) is not None:
            numbers.append(v)
    summary = summarise(numbers, n_censored)
    for m in members:
        m["replicate_mean"] = summary.mean
        m["replicate_n"] = summary.n
        m["replicate_n_censored"] = summary.n_censored
        m["replicate_cv"] = summary.cv
    return summary


def _censoring(members: list[LongitudinalRow]) -> tuple[str | None, float | None]:
    """(direction, bound) of a censored set by the domain's rule (:func:`set_limit`): ``<`` or
    ``>`` when all its censored replicates agree (``<>`` otherwise) and the highest (``<``) or
    lowest (``>``) of their limits; no bound when one of them has no limit recorded."""
    return set_limit(
        (censor_direction(m["censor"], m["comparator"]), m["std_value"])
        for m in members
        if m["censor"] != "none"
    )


def finish_group(rows: list[LongitudinalRow], sets: list[list[LongitudinalRow]]) -> None:
    """Fill replicate summaries and baselines of one subject x analyte x biofluid x method.

    ``rows`` are in collection order, ``sets`` the same rows as replicate sets (target x
    assay x run, adjacent in ``rows`` by the stream's ORDER BY); modified in place. The
    baseline rule is :class:`exolab.domain.replicates.BaselineFinder`'s, per standard unit.
    """
    finder = BaselineFinder()
    exact: dict[int, Decimal] = {}  # id(row) -> exact mean of its set (docs/exports.md)
    for block in sets:
        unit = block[0]["std_unit"]
        parts = (
            [block]
            if all(m["std_unit"] == unit for m in block)
            else [[m for m in block if m["std_unit"] == u] for u in {m["std_unit"] for m in block}]
        )
        for members in parts:
            summary = _summarise_set(members)
            unit = members[0]["std_unit"]
            if unit is None:  # results without a unit (qualitative) have no baseline
                continue
            if summary.mean is not None:
                if summary.exact is not None:
                    for m in members:
                        exact[id(m)] = summary.exact
                finder.add(unit, members[0]["collected_at"], summary.mean, exact=summary.exact)
            elif summary.censored:
                finder.add(unit, members[0]["collected_at"], None, *_censoring(members))
    if rows[0]["subject_id"] is None:
        return
    found = finder.result()
    if not found:
        return
    for r in rows:
        b = found.get(r["std_unit"])
        if b is None:
            continue
        r["baseline_value"] = b.value
        r["baseline_censor"] = b.censor
        if r["collected_at"] == b.at:
            r["baseline_flag"] = "Y"
        if r["censor"] == "none" and r["std_value"] is not None:
            change = change_from(r["replicate_mean"], b, exact.get(id(r)))
            r["change_from_baseline"] = change.change
            r["pct_change_from_baseline"] = change.pct
            r["fold_change"] = change.fold
            r["change_censor"] = change.censor


# -- the stream -----------------------------------------------------------------------------


def longitudinal(
    reader: Reader,
    *,
    study: str | None = None,
    subjects: list[str] | None = None,
    analytes: list[str] | None = None,
    biofluid: str | None = None,
    method: str | None = None,
    since: date | None = None,
    until: date | None = None,
    transform: Transform | None = None,
    with_ids: bool = False,
) -> Iterator[LongitudinalRow]:
    """One row per readout with the :data:`LONGITUDINAL_COLUMNS` keys, ordered by study,
    subject, analyte, biofluid, method and collection time.

    Without subjects, one ordered query is streamed (a server-side cursor on PostgreSQL);
    each subject x analyte x biofluid x method group is held in memory only until it is
    complete. ``since``/``until`` (inclusive collection dates) select rows to return but do
    not change baselines or visit days, which come from the subject's whole history.
    ``transform`` may change a row's standard value (normalisation) before baselines.
    ``with_ids`` adds each row's ``readout_pk``.
    The filters are checked when this is called, before the first row is asked for: an
    unknown study, subject or analyte is a NotFound, not an empty stream.
    """
    check_study(reader, study)
    analyte_pks = analyte_ids(reader, analytes) if analytes else None
    pks = subject_pks(reader, study, subjects or [])
    return _stream(
        reader,
        pks,
        study=study,
        analyte_pks=analyte_pks,
        biofluid=biofluid,
        method=method,
        since=since,
        until=until,
        transform=transform,
        with_ids=with_ids,
    )


def _stream(
    reader: Reader,
    pks: list[int] | None,
    *,
    study: str | None = None,
    analyte_pks: list[int] | None = None,
    biofluid: str | None = None,
    method: str | None = None,
    since: date | None = None,
    until: date | None = None,
    transform: Transform | None = None,
    with_ids: bool = False,
) -> Iterator[LongitudinalRow]:
    """:func:`longitudinal` once its subjects and analytes are known (subjects None: every
    subject of ``study``; analytes None: all)."""
    units = Units(reader)
    result: Any
    if pks is None:
        first_day = first_collections(reader, None)
        sql, params = stream_sql(reader.sqlite, study, analyte_pks, biofluid, method, with_ids)
        result = reader.stream(sql, params)
    else:
        result, first_day = subject_rows(reader, pks, analyte_pks, biofluid, method, with_ids)
    yield from _rows(result, first_day, units, transform, since, until, with_ids)


def _finished(
    group: list[LongitudinalRow],
    sets: list[list[LongitudinalRow]],
    since: date | None,
    until: date | None,
) -> list[LongitudinalRow]:
    """A complete group with its summaries and baselines, cut to the collection window."""
    finish_group(group, sets)
    if since is None and until is None:
        return group
    return [
        r
        for r in group
        if not (
            (since and r["collected_at"].date() < since)
            or (until and r["collected_at"].date() > until)
        )
    ]


def _rows(
    result: Any,
    first_day: dict[int, date],
    units: Units,
    transform: Transform | None,
    since: date | None,
    until: date | None,
    with_ids: bool = False,
) -> Iterator[LongitudinalRow]:
    codes = units.code
    ids: deque[int] | None = None
    if with_ids:  # (the readout's id is the last column: kept apart, given to its row)
        ids = deque()
        result = _ids_apart(result, ids.append)
    blank = cast(LongitudinalRow, dict.fromkeys(LONGITUDINAL_COLUMNS))
    blank["replicate_n"] = blank["replicate_n_censored"] = 0
    group: list[LongitudinalRow] = []
    sets: list[list[LongitudinalRow]] = []  # the group's replicate sets
    members: list[LongitudinalRow] = []  # the current set
    group_key: tuple[Any, ...] | None = None
    set_key: tuple[Any, ...] | None = None
    std_of: dict[tuple[int, Any], tuple[Any, Any]] = {}
    parsed: dict[Any, datetime] = {}
    last_at: Any = None
    last_subject: Any = None
    at: Any = None
    visit_day: int | None = None
    for (
        study,
        subject,
        grp,
        visit,
        collected_at,
        sample,
        biofluid,
        isolation,
        method,
        subject_pk,
        analyte_pk,
        assay,
        run_code,
        value_text,
        comparator,
        censor,
        qualitative,
        value,
        unit,
        lod,
        lloq,
        uloq,
        replicate,
        qc,
    ) in result:
        key = (study, subject, analyte_pk, biofluid, method)
        if key != group_key:
            if group:
                yield from _finished(group, sets, since, until)
            group = []
            sets = []
            group_key = key
            set_key = None
        if (sample, isolation, assay, run_code) != set_key:
            set_key = (sample, isolation, assay, run_code)
            members = []
            sets.append(members)
        if collected_at != last_at or subject_pk != last_subject:
            last_at, last_subject = collected_at, subject_pk
            if not isinstance(collected_at, datetime):  # ISO text from SQLite
                at = parsed.get(collected_at)
                if at is None:
                    at = parsed[collected_at] = datetime.fromisoformat(collected_at)
            else:
                at = collected_at
            visit_day = visit_day_of(at, first_day[subject_pk]) if subject_pk is not None else None
        conv = std_of.get((analyte_pk, unit))
        if conv is None:
            conv = std_of[(analyte_pk, unit)] = units.to_std(analyte_pk, 1.0, unit)
        factor, std_unit = conv
        if factor is None or value is None:
            std_value = None
        else:
            std_value = value if factor == 1.0 else decimals.scaled(value, factor)
        row = blank.copy()  # copying a dict of 35 keys is 3x faster than a literal
        row["study"] = study
        row["subject_id"] = subject
        row["group"] = grp
        row["visit"] = visit
        row["visit_day"] = visit_day
        row["collected_at"] = at
        row["sample_id"] = sample
        row["biofluid"] = biofluid
        row["isolation_id"] = isolation
        row["method"] = method
        row["analyte"] = codes[analyte_pk]
        row["assay"] = assay
        row["run_id"] = run_code or None
        row["value"] = value_text
        row["comparator"] = comparator
        row["censor"] = censor
        row["qualitative"] = qualitative
        row["numeric_value"] = value
        row["unit"] = unit
        row["lod"] = lod
        row["lloq"] = lloq
        row["uloq"] = uloq
        row["replicate"] = replicate
        row["qc"] = qc
        row["std_value"] = std_value
        row["std_unit"] = std_unit
        if ids is not None:
            row["readout_pk"] = ids.popleft()
        if transform is not None:
            transform(row)
        group.append(row)
        members.append(row)
    if group:
        yield from _finished(group, sets, since, until)


def _ids_apart(rows: Any, keep: Callable[[int], None]) -> Iterator[tuple[Any, ...]]:
    """``rows`` without their last column, each one's last column handed to ``keep`` as the
    row is taken."""
    for r in rows:
        keep(r[-1])
        yield tuple(r[:-1])


def trajectory(
    reader: Reader,
    study: str,
    subject: str,
    analytes: list[str] | None = None,
    transform_for: Callable[[list[int]], Transform] | None = None,
) -> list[LongitudinalRow]:
    """Every result of one subject (rows as :func:`longitudinal` gives them); NotFound when
    the study has no such subject. ``transform_for(subject_pks)`` makes the row transform
    (normalisation), if any."""
    pks = subject_pks(reader, study, [subject])  # (NotFound: no subject S in study X)
    assert pks is not None
    transform = transform_for(pks) if transform_for is not None else None
    analyte_pks = analyte_ids(reader, analytes) if analytes else None
    return list(_stream(reader, pks, analyte_pks=analyte_pks, transform=transform))
