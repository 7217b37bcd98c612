"""Longitudinal biomarker queries: trajectories, baselines, cohort summaries, method comparison.

Conventions (docs/longitudinal.md; CDISC SDTM LB / OMOP MEASUREMENT), the same in every function here:

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
  earliest collection with a result, by :mod:`exolab.domain.replicates` (which also computes
  the change, percent and fold change). When every result there is censored the baseline is
  censored (``baseline_censor``, ``baseline_value`` the limit) and changes against it are
  bounds (``change_censor``). Censored rows get no change. QC status is reported but does
  not filter (a failed QC result stays visible and is counted).
- Samples without a subject (conditioned medium) have no visit_day or baseline; they appear in
  :func:`iter_longitudinal` only when neither a study nor subjects are filtered, and never in
  subject or cohort queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select

from exolab.db.models import (
    Analyte,
    Isolation,
    Readout,
    Sample,
)
from exolab.db.raw import reader_for
from exolab.domain.replicates import summarise
from exolab.domain.statistics import describe
from exolab.domain.units import UnitError, convert
from exolab.services import cohort_summary as cohort
from exolab.services import history, method_comparison
from exolab.services.context import Tx
from exolab.services.errors import FieldError, ValidationFailed
from exolab.services.history import LONGITUDINAL_COLUMNS, LongitudinalRow, Transform, Units

__all__ = [
    "LONGITUDINAL_COLUMNS",
    "CohortPoint",
    "CohortRow",
    "LongitudinalFilter",
    "MethodPair",
    "PairedValue",
    "TrajectoryPoint",
    "cohort_points",
    "cohort_summary",
    "compare_methods",
    "describe",
    "iter_longitudinal",
    "trajectory_for_subject",
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
    baseline_censor: str | None = None
    change_from_baseline: float | None
    pct_change_from_baseline: float | None
    fold_change: float | None
    change_censor: str | None = None
    normalisation: str | None = None


# -- the ordered stream ---------------------------------------------------------------------


def _analyte_ids(tx: Tx, codes: list[str]) -> list[int]:
    """Analyte primary keys for codes or synonyms; an unknown analyte is a NotFound."""
    return history.analyte_ids(reader_for(tx), codes)


def _units(tx: Tx) -> Units:
    return Units(reader_for(tx))


def iter_longitudinal(
    tx: Tx, flt: LongitudinalFilter, *, with_ids: bool = False
) -> Iterator[LongitudinalRow]:
    """Stream one row per readout with the :data:`LONGITUDINAL_COLUMNS` keys.

    One ordered SQL query (server-side cursor on PostgreSQL), ordered by study, subject,
    analyte, biofluid, method and collection time; each subject x analyte x biofluid x method
    group is held in memory only until it is complete, so memory does not grow with the number
    of rows (only a first-collection date per subject is kept). Baselines, replicate summaries
    and visit days follow the module's conventions (computed by :mod:`exolab.services.history`,
    which ``exolab patient`` also runs without SQLAlchemy). ``with_ids`` adds each row's
    ``readout_pk`` (not a column of the export).
    """
    if flt.since and flt.until and flt.since > flt.until:
        raise ValidationFailed(
            [FieldError("since", f"{flt.since.isoformat()} is after until {flt.until.isoformat()}")]
        )
    return history.longitudinal(
        reader_for(tx),
        study=flt.study,
        subjects=flt.subjects,
        analytes=flt.analytes,
        biofluid=flt.biofluid,
        method=flt.method,
        since=flt.since,
        until=flt.until,
        with_ids=with_ids,
    )


# -- one subject ----------------------------------------------------------------------------

Normalisation = Literal["per_ml_biofluid", "per_1e9_particles", "per_creatinine"]
NORMALISATIONS: tuple[str, ...] = ("per_ml_biofluid", "per_1e9_particles", "per_creatinine")


def _per_volume(value: float, unit: str) -> tuple[float, str] | None:
    """``value`` re-expressed per mL (``pg/dL`` -> ``pg/mL``), or None if not per volume."""
    if "/" not in unit:
        return None
    num, den = unit.rsplit("/", 1)
    target = f"{num}/mL"
    try:
        convert(1.0, den, "mL")
        return convert(value, unit, target), target
    except UnitError:
        return None


class _Normaliser:
    """Re-expresses a subject's results per mL of starting biofluid, per 10^9 particles or
    per creatinine (urine), before baselines are computed. Rows that cannot be normalised keep
    their row but lose the number (``std_value`` empty) and say why in ``normalisation``."""

    def __init__(self, tx: Tx, subject_pks: list[int], how: str) -> None:
        self.how = how
        self.volumes: dict[str, tuple[float, float | None]] = {}
        self.particles: dict[str, float] = {}
        self.creatinine: dict[str, float] = {}
        self.parent: dict[str, str] = {}
        sample_q = select(Sample.id).where(Sample.subject_id.in_(subject_pks))
        for code, input_ml, final_ul in tx.session.execute(
            select(
                Isolation.isolation_code, Isolation.input_volume_ml, Isolation.final_volume_ul
            ).where(Isolation.sample_id.in_(sample_q))
        ):
            self.volumes[code] = (input_ml, final_ul)
        if how == "per_1e9_particles":
            self.particles = self._means(tx, sample_q, "particle_concentration", "/mL", True)
        if how == "per_creatinine":
            self.creatinine = self._means(tx, sample_q, "creatinine", "mg/mL", False)
            parent = Sample.__table__.alias("parent")
            for child, par in tx.session.execute(
                select(Sample.sample_code, parent.c.sample_code)
                .join(parent, parent.c.id == Sample.parent_id)
                .where(Sample.subject_id.in_(subject_pks))
            ):
                self.parent[child] = par

    @staticmethod
    def _means(
        tx: Tx, sample_q: Any, analyte: str, unit: str, on_isolation: bool
    ) -> dict[str, float]:
        """Mean non-censored result of ``analyte`` in ``unit`` per isolation or sample code."""
        target = Isolation.isolation_code if on_isolation else Sample.sample_code
        q = (
            select(target, Readout.value, Readout.unit)
            .join(Analyte, Analyte.id == Readout.analyte_id)
            .join(Sample, Sample.id == Readout.sample_id)
            .outerjoin(Isolation, Isolation.id == Readout.isolation_id)
            .where(
                Analyte.code == analyte,
                Readout.sample_id.in_(sample_q),
                Readout.censor == "none",
                Readout.value.is_not(None),
            )
        )
        q = (
            q.where(Readout.isolation_id.is_not(None))
            if on_isolation
            else q.where(Readout.isolation_id.is_(None))
        )
        found: dict[str, list[float]] = {}
        for code, value, u in tx.session.execute(q):
            if value is None or u is None:
                continue
            try:
                found.setdefault(code, []).append(convert(value, u, unit))
            except UnitError:
                continue
        return {k: m for k, v in found.items() if (m := summarise(v, 0).mean) is not None}

    def _per_ml_biofluid(self, row: LongitudinalRow) -> tuple[float, str] | str:
        v, unit = row["std_value"], row["std_unit"]
        if v is None or unit is None:
            return "no numeric result"
        per_ml = _per_volume(v, unit)
        if per_ml is None:
            return f"unit {unit} is not a concentration"
        if row["isolation_id"] is None:
            return per_ml  # measured in the biofluid itself
        input_ml, final_ul = self.volumes.get(row["isolation_id"], (None, None))
        if not final_ul or not input_ml:
            return "isolation has no final volume"
        return per_ml[0] * (final_ul / 1000.0) / input_ml, per_ml[1]

    def __call__(self, row: LongitudinalRow) -> None:
        how = self.how
        if row["std_value"] is None or row["std_unit"] is None:
            row["normalisation"] = f"{how}: no numeric result"
            return
        result: tuple[float, str] | str
        if how == "per_ml_biofluid":
            result = self._per_ml_biofluid(row)
        elif how == "per_1e9_particles":
            per_ml = _per_volume(row["std_value"], row["std_unit"])
            particles = self.particles.get(row["isolation_id"] or "")
            if row["analyte"] == "particle_concentration":
                result = "is the particle count itself"
            elif per_ml is None:
                result = f"unit {row['std_unit']} is not a concentration"
            elif not particles:
                result = "no particle concentration on the isolation"
            else:
                num = per_ml[1].rsplit("/", 1)[0] or "1"
                result = per_ml[0] / particles * 1e9, f"{num}/10*9{{particles}}"
        else:
            if row["biofluid"] != "urine":
                result = "not a urine sample"
            elif row["analyte"] == "creatinine":
                result = "is the creatinine itself"
            else:
                per_ml_bio = self._per_ml_biofluid(row)
                creat = self.creatinine.get(row["sample_id"]) or self.creatinine.get(
                    self.parent.get(row["sample_id"], "")
                )
                if isinstance(per_ml_bio, str):
                    result = per_ml_bio
                elif not creat:
                    result = "no creatinine result on the sample or its parent"
                else:
                    num = per_ml_bio[1].rsplit("/", 1)[0] or "1"
                    result = per_ml_bio[0] / creat, f"{num}/mg{{creatinine}}"
        if isinstance(result, str):
            row["std_value"] = None
            row["normalisation"] = f"{how}: {result}"
        else:
            row["std_value"], row["std_unit"] = result
            row["normalisation"] = how


def trajectory_for_subject(
    tx: Tx,
    study: str,
    subject: str,
    analytes: list[str] | None = None,
    normalise: str | None = None,
) -> list[TrajectoryPoint]:
    """Every result of one subject, one point per readout, ordered by analyte, biofluid,
    method and collection time, with visit day, replicate summary and change from baseline.

    ``normalise`` (off by default) re-expresses values before baselines are taken:
    ``per_ml_biofluid`` (value x final_volume_ul / 1000 / input_volume_ml, for results in a
    per-volume unit), ``per_1e9_particles`` (divided by the isolation's particle concentration,
    times 10^9) or ``per_creatinine`` (urine: per-mL-of-urine value divided by the creatinine of
    the same sample or its parent, in mg/mL). The method is named in each point's
    ``normalisation``; points that cannot be normalised keep no number and say why.
    """

    def normaliser(pks: list[int]) -> Transform:
        if normalise not in NORMALISATIONS:
            raise ValidationFailed(
                [FieldError("normalise", f"must be one of {', '.join(NORMALISATIONS)}", normalise)]
            )
        return _Normaliser(tx, pks, normalise)

    rows = history.trajectory(
        reader_for(tx), study, subject, analytes, normaliser if normalise is not None else None
    )
    return _points(rows)


# One set for all points: every point has every field set, so pydantic's additions to it
# (assignment to a field) change nothing.
_POINT_FIELDS = set(TrajectoryPoint.model_fields)


def _points(rows: Iterable[LongitudinalRow]) -> list[TrajectoryPoint]:
    """TrajectoryPoints from rows this module built, whose values already have the model's
    types: made as ``model_construct`` makes a model (``__dict__`` plus the fields set), but
    without its per-field Python loop, since every row carries exactly the model's fields.
    Validating ~1000 rows field by field would cost more than the query (a test checks the
    points equal ``model_validate``'s)."""
    new = TrajectoryPoint.__new__
    set_attr = object.__setattr__
    out = []
    for r in rows:
        if "normalisation" not in r:
            r["normalisation"] = None
        p = new(TrajectoryPoint)
        set_attr(p, "__dict__", r)
        set_attr(p, "__pydantic_fields_set__", _POINT_FIELDS)
        set_attr(p, "__pydantic_extra__", None)
        set_attr(p, "__pydantic_private__", None)
        out.append(p)
    return out


# -- cohort ---------------------------------------------------------------------------------

CohortBy = Literal["visit", "group", "method", "biofluid"]


#: One row of a cohort summary (services/cohort_summary.py, the one definition of its fields):
#: ``as_row()`` gives the output fields with the group field named after ``by``.
CohortRow = cohort.SummaryRow


#: One subject's replicate-averaged result (or its change from baseline) in a cohort query;
#: censored results carry their limit and no value (services/cohort_summary.py's SetPoint).
CohortPoint = cohort.SetPoint


def cohort_points(
    tx: Tx,
    analyte: str,
    study: str | None = None,
    by: str = "visit",
    change: bool = False,
    *,
    biofluid: str | None = None,
    method: str | None = None,
) -> list[CohortPoint]:
    """The per-subject results behind :func:`cohort_summary` (for plots and the UI): each
    replicate-summarised result with the value summarised, its mean, or with ``change`` its
    change from baseline (None when censored or without a baseline)."""
    return cohort.points(
        reader_for(tx), analyte, study, by, change, biofluid=biofluid, method=method
    )


def cohort_summary(
    tx: Tx,
    analyte: str,
    study: str | None = None,
    by: str = "visit",
    change: bool = False,
    *,
    biofluid: str | None = None,
    method: str | None = None,
) -> list[CohortRow]:
    """One analyte across subjects, one row per ``by`` value (and per unit that cannot be
    converted into the analyte's standard unit).

    n counts non-censored replicate-averaged results; n_censored the results whose replicates
    were all censored; n_subjects the subjects with any result in the row. With ``change`` the
    statistics are over change from baseline (per subject x biofluid x method) instead of
    values; results without a baseline are left out of n. Visits are ordered by their mean
    visit day, other groups alphabetically (empty last).
    """
    return cohort.summary(
        reader_for(tx), analyte, study, by, change, biofluid=biofluid, method=method
    )


# -- method comparison ----------------------------------------------------------------------


#: The values of methods a and b on one split sample (services/method_comparison.py).
PairedValue = method_comparison.SplitPair
#: Agreement of two isolation methods on split samples (same sample, or aliquots of the same
#: parent, isolated by both): services/method_comparison.py, the one definition of its fields.
MethodPair = method_comparison.MethodComparison


def compare_methods(
    tx: Tx, analyte: str, study: str | None = None, *, with_pairs: bool = False
) -> list[MethodPair]:
    """Paired results of isolation methods on split samples, one row per method pair (and
    assay and unit). Each method's value on a split sample (the same tube, or aliquots of one
    parent) is the mean of its replicate-averaged results there; a pair where either side is
    censored is counted in ``n_censored_pairs`` and left out of the statistics. With
    ``with_pairs`` the paired values, by sample id."""
    return method_comparison.compare(reader_for(tx), analyte, study, with_pairs=with_pairs)
