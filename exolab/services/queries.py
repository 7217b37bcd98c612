"""Longitudinal biomarker queries: trajectories, baselines, cohort summaries, method comparison.

Conventions (CONTRACT §6, CDISC SDTM LB / OMOP MEASUREMENT), the same in every function here:

- **Standard unit.** Every numeric result is also given in its analyte's *standard unit*
  (``std_value`` / ``std_unit``): the analyte's ``default_unit`` when set, else the unit of the
  analyte's first recorded result (lowest sample, then lowest readout id). Results in another
  unit that converts exactly (``ng/mL`` vs ``pg/mL``) are converted; results in a unit that
  cannot be converted keep their own unit and form their own series: they get their own
  baseline and their own cohort rows, and are never mixed with the others.
- **Replicates.** Readouts of one target (isolation, or sample when measured directly) x
  analyte x assay x run are replicates. Their summary is the mean of the *non-censored*
  replicates (``replicate_mean``), their number (``replicate_n``), the censored ones counted
  apart (``replicate_n_censored``) and the CV in % (sample SD / mean, n >= 2). A censored
  value is never averaged as a number; when every replicate is censored the summary is
  censored (no mean, ``replicate_n`` = 0).
- **visit_day** = calendar days from the subject's first collection in the study (any biofluid,
  regardless of the filters of the query) to this collection; the first collection is day 0.
- **Baseline** per subject x analyte x biofluid x isolation method (and standard unit): the
  earliest collection time with at least one non-censored result; its value is the mean of the
  replicate means of the results at that collection (rows flagged ``baseline_flag = "Y"``).
  For each non-censored row ``change_from_baseline = std_value - baseline_value``,
  ``pct_change_from_baseline = 100 * change / baseline`` and ``fold_change = std_value /
  baseline`` (both empty when the baseline is 0). Censored rows get no change. QC status is
  reported but does not filter (a failed QC result stays visible and is counted).
- Samples without a subject (conditioned medium) have no visit_day or baseline; they appear in
  :func:`iter_longitudinal` only when neither a study nor subjects are filtered, and never in
  subject or cohort queries.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from exolab.db.models import (
    Analyte,
    Isolation,
    Readout,
    Sample,
    Study,
    Subject,
    Visit,
)
from exolab.domain.units import UnitError, convert
from exolab.services.context import Tx
from exolab.services.errors import NotFound

__all__ = [
    "LONGITUDINAL_COLUMNS",
    "LongitudinalFilter",
    "TrajectoryPoint",
    "iter_longitudinal",
]

#: Columns of a longitudinal row, in export order (CONTRACT §5 plus standardised values,
#: the replicate summary and fold change).
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
    "change_from_baseline",
    "pct_change_from_baseline",
    "fold_change",
]


class LongitudinalFilter(BaseModel):
    """Which readouts a longitudinal query returns (all filters combine with AND).

    ``since``/``until`` are inclusive collection dates; they select rows to return but do not
    change baselines or visit days, which always come from the subject's whole history.
    """

    study: str | None = None
    subjects: list[str] = []
    analytes: list[str] = []
    biofluid: str | None = None
    method: str | None = None
    since: date | None = None
    until: date | None = None


class TrajectoryPoint(BaseModel):
    """One readout of a subject with its visit, standardised value, replicate summary and
    change from baseline (field names as in the longitudinal export)."""

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
    change_from_baseline: float | None
    pct_change_from_baseline: float | None
    fold_change: float | None
    normalisation: str | None = None


# -- the ordered stream ---------------------------------------------------------------------


def _first_collections() -> Any:
    return (
        select(
            Sample.subject_id.label("subject_pk"), func.min(Sample.collected_at).label("first_at")
        )
        .where(Sample.subject_id.is_not(None))
        .group_by(Sample.subject_id)
        .subquery("first_collection")
    )


def _stream_query(flt: LongitudinalFilter, analyte_ids: list[int] | None) -> Any:
    first = _first_collections()
    q = (
        select(
            Study.code,
            Subject.subject_code,
            Subject.group_name,
            Visit.label,
            Sample.collected_at,
            Sample.sample_code,
            Sample.biofluid,
            Isolation.isolation_code,
            Isolation.method,
            Readout.analyte_id,
            Readout.assay,
            Readout.run_code,
            Readout.value_text,
            Readout.comparator,
            Readout.censor,
            Readout.qualitative,
            Readout.value,
            Readout.unit,
            Readout.lod,
            Readout.lloq,
            Readout.uloq,
            Readout.replicate,
            Readout.qc,
            first.c.first_at,
        )
        .select_from(Readout)
        .join(Sample, Sample.id == Readout.sample_id)
        .outerjoin(Isolation, Isolation.id == Readout.isolation_id)
        .outerjoin(Visit, Visit.id == Sample.visit_id)
        .outerjoin(first, first.c.subject_pk == Sample.subject_id)
    )
    subject_needed = bool(flt.study or flt.subjects)
    if subject_needed:
        q = q.join(Subject, Subject.id == Sample.subject_id).join(
            Study, Study.id == Subject.study_id
        )
    else:
        q = q.outerjoin(Subject, Subject.id == Sample.subject_id).outerjoin(
            Study, Study.id == Subject.study_id
        )
    if flt.study:
        q = q.where(Study.code == flt.study)
    if flt.subjects:
        q = q.where(Subject.subject_code.in_(flt.subjects))
    if analyte_ids is not None:
        q = q.where(Readout.analyte_id.in_(analyte_ids))
    if flt.biofluid:
        q = q.where(Sample.biofluid == flt.biofluid)
    if flt.method:
        q = q.where(Isolation.method == flt.method)
    return q.order_by(
        Study.code.nulls_last(),
        Subject.subject_code.nulls_last(),
        Readout.analyte_id,
        Sample.biofluid,
        Isolation.method.nulls_last(),
        Sample.collected_at,
        Sample.sample_code,
        Isolation.isolation_code.nulls_first(),
        Readout.assay,
        Readout.run_code,
        Readout.replicate,
    )


def _analyte_ids(tx: Tx, codes: list[str]) -> list[int]:
    """Analyte primary keys for codes or synonyms; an unknown analyte is a NotFound."""
    from exolab.domain.markers import normalize_analyte_code

    ids = []
    for code in codes:
        canonical = normalize_analyte_code(code)
        pk = tx.session.scalar(select(Analyte.id).where(Analyte.code == canonical))
        if pk is None:
            raise NotFound(f"no analyte {code}")
        ids.append(pk)
    return ids


class _Units:
    """Standard unit per analyte and cached conversion factors to it."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.code: dict[int, str] = {}
        self.default: dict[int, str | None] = {}
        for pk, code, unit in tx.session.execute(
            select(Analyte.id, Analyte.code, Analyte.default_unit)
        ):
            self.code[pk] = code
            self.default[pk] = unit
        self._std: dict[int, str | None] = {}
        self._factor: dict[tuple[str, str], float | None] = {}

    def standard(self, analyte_pk: int) -> str | None:
        if analyte_pk in self._std:
            return self._std[analyte_pk]
        unit = self.default.get(analyte_pk)
        if not unit:
            unit = self.tx.session.scalar(
                select(Readout.unit)
                .where(Readout.analyte_id == analyte_pk, Readout.unit.is_not(None))
                .order_by(Readout.sample_id, Readout.id)
                .limit(1)
            )
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
        return (value if f == 1.0 else value * f), std


def _cv(values: list[float]) -> tuple[float | None, float | None]:
    """(mean, CV %) of replicate values; CV needs two values and a non-zero mean."""
    if not values:
        return None, None
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2 or mean == 0:
        return mean, None
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, 100.0 * sd / abs(mean)


def _finish_group(rows: list[dict[str, Any]]) -> None:
    """Fill replicate summaries and baselines of one subject x analyte x biofluid x method.

    ``rows`` are in collection order with replicates adjacent; modified in place.
    """
    # replicate summaries: (sample, isolation, assay, run, std_unit)
    reps: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["sample_id"], r["isolation_id"], r["assay"], r["run_id"], r["std_unit"])
        reps.setdefault(key, []).append(r)
    # per std unit: collected_at -> replicate means at that time
    means: dict[Any, dict[datetime, list[float]]] = {}
    for members in reps.values():
        numbers = [
            m["std_value"] for m in members if m["censor"] == "none" and m["std_value"] is not None
        ]
        n_censored = sum(1 for m in members if m["censor"] != "none")
        mean, cv = _cv(numbers)
        for m in members:
            m["replicate_mean"] = mean
            m["replicate_n"] = len(numbers)
            m["replicate_n_censored"] = n_censored
            m["replicate_cv"] = cv
        if mean is not None:
            first = members[0]
            means.setdefault(first["std_unit"], {}).setdefault(first["collected_at"], []).append(
                mean
            )
    if rows[0]["subject_id"] is None:
        return
    baselines: dict[Any, tuple[datetime, float]] = {}
    for unit, by_time in means.items():
        at = min(by_time)
        values = by_time[at]
        baselines[unit] = (at, math.fsum(values) / len(values))
    for r in rows:
        b = baselines.get(r["std_unit"])
        if b is None:
            continue
        at, base = b
        r["baseline_value"] = base
        if r["collected_at"] == at:
            r["baseline_flag"] = "Y"
        v = r["std_value"]
        if r["censor"] == "none" and v is not None:
            change = v - base
            r["change_from_baseline"] = change
            if base != 0:
                r["pct_change_from_baseline"] = 100.0 * change / base
                r["fold_change"] = v / base


def _in_window(flt: LongitudinalFilter, r: dict[str, Any]) -> bool:
    d = r["collected_at"].date()
    return not ((flt.since and d < flt.since) or (flt.until and d > flt.until))


def iter_longitudinal(tx: Tx, flt: LongitudinalFilter) -> Iterator[dict[str, Any]]:
    """Stream one row per readout with the :data:`LONGITUDINAL_COLUMNS` keys.

    One ordered SQL query (server-side cursor on PostgreSQL), ordered by study, subject,
    analyte, biofluid, method and collection time; each subject x analyte x biofluid x method
    group is held in memory only until it is complete, so memory does not grow with the number
    of rows. Baselines, replicate summaries and visit days follow the module's conventions.
    """
    analyte_ids = _analyte_ids(tx, flt.analytes) if flt.analytes else None
    units = _Units(tx)
    q = _stream_query(flt, analyte_ids)
    windowed = flt.since is not None or flt.until is not None
    conn = tx.session.connection()
    result = conn.execution_options(stream_results=True, yield_per=2000).execute(q)
    codes = units.code
    to_std = units.to_std
    group: list[dict[str, Any]] = []
    group_key: tuple[Any, ...] | None = None
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
        first_at,
    ) in result:
        key = (study, subject, analyte_pk, biofluid, method)
        if key != group_key:
            if group:
                _finish_group(group)
                if windowed:
                    yield from (r for r in group if _in_window(flt, r))
                else:
                    yield from group
            group = []
            group_key = key
        std_value, std_unit = to_std(analyte_pk, value, unit)
        group.append(
            {
                "study": study,
                "subject_id": subject,
                "group": grp,
                "visit": visit,
                "visit_day": (collected_at.date() - first_at.date()).days
                if first_at is not None
                else None,
                "collected_at": collected_at,
                "sample_id": sample,
                "biofluid": biofluid,
                "isolation_id": isolation,
                "method": method,
                "analyte": codes[analyte_pk],
                "assay": assay,
                "run_id": run_code or None,
                "value": value_text,
                "comparator": comparator,
                "censor": censor,
                "qualitative": qualitative,
                "numeric_value": value,
                "unit": unit,
                "lod": lod,
                "lloq": lloq,
                "uloq": uloq,
                "replicate": replicate,
                "qc": qc,
                "std_value": std_value,
                "std_unit": std_unit,
                "replicate_mean": None,
                "replicate_n": 0,
                "replicate_n_censored": 0,
                "replicate_cv": None,
                "baseline_flag": None,
                "baseline_value": None,
                "change_from_baseline": None,
                "pct_change_from_baseline": None,
                "fold_change": None,
            }
        )
    if group:
        _finish_group(group)
        if windowed:
            yield from (r for r in group if _in_window(flt, r))
        else:
            yield from group
