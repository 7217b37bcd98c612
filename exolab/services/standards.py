"""EV reporting standards on stored records: SPREC codes, MISEV / EV-METRIC-style completeness
per preparation and per study, and the blood / urine pre-analytical checklists.

The rules live in :mod:`exolab.domain.sprec` and :mod:`exolab.domain.misev`; this module loads
the facts they need from the database and returns pydantic models for the CLI and the UI:

- :func:`sprec_for_sample` / :func:`explain_code` -> :class:`SprecView`
- :func:`misev_report` (one isolation) and :func:`misev_reports` (all, or one study)
  -> :class:`~exolab.domain.misev.MisevReport`
- :func:`preparation_reports` / :func:`iter_preparation_reports` -> :class:`PreparationReport`
  (the report plus the sample, study and method it belongs to, for tables)
- :func:`study_completeness` -> :class:`StudyCompleteness` (per preparation and the share of
  preparations meeting each component)
- :func:`preanalytical_for_sample` (missing items) and :func:`preanalytical_checklist`
  (every item with its recorded value)

Marker categories come from the ``analytes`` table (``misev_category``, editable by an admin),
not from the seed list, so an admin's correction changes the score.

Loading is set-based: one query for the isolations with their samples, then the steps and the
readouts of up to ``CHUNK`` isolations per query, never one query per isolation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, select

from exolab.db.models import (
    Analyte,
    Isolation,
    IsolationStep,
    Readout,
    Sample,
    Study,
    Subject,
    Visit,
)
from exolab.domain import misev as misev_rules
from exolab.domain import sprec as sprec_rules
from exolab.domain.misev import (
    RULES,
    RULES_VERSION,
    IsolationFacts,
    MisevReport,
    ReadoutFacts,
    StepFacts,
)
from exolab.services.context import Tx
from exolab.services.errors import FieldError, NotFound, ValidationFailed
from exolab.services.samples import HANDLING_FIELDS, handling_of

__all__ = [
    "CHUNK",
    "COMPONENT_NAMES",
    "ComponentShare",
    "ItemShare",
    "PreanalyticalItem",
    "PreparationReport",
    "SprecElementOut",
    "SprecView",
    "StudyCompleteness",
    "explain_code",
    "iter_preparation_reports",
    "misev_report",
    "misev_reports",
    "preanalytical_checklist",
    "preanalytical_for_sample",
    "preparation_reports",
    "sprec_for_sample",
    "study_completeness",
]

CHUNK = 500  # isolations per steps/readouts query
COMPONENT_NAMES: tuple[str, ...] = tuple(rule.name for rule in RULES)

# Sample columns the pre-analytical checklists look at (import column names, docs/import-formats.md).
PREANALYTICAL_FIELDS: tuple[str, ...] = (*HANDLING_FIELDS, "freeze_thaw_count")

# An item of the checklist -> the columns any one of which answers it.
_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "pre_centrifugation_delay_min": ("pre_centrifugation_delay_min", "processed_at"),
    "hemolysis": ("hemolysis", "a414"),
}


# -- models -------------------------------------------------------------------------------


class SprecElementOut(BaseModel):
    """One element of a SPREC code: position 1-7, element name, letter(s), meaning."""

    position: int
    element: str
    code: str
    meaning: str


class SprecView(BaseModel):
    """A SPREC code with each element explained; ``sample_id`` when it is a sample's code."""

    sample_id: str | None = None
    code: str
    elements: list[SprecElementOut]


class PreanalyticalItem(BaseModel):
    """One blood or urine pre-analytical item: the column, whether it is recorded, its value."""

    name: str
    satisfied: bool
    value: str | None


class PreparationReport(BaseModel):
    """One EV preparation with what it came from and its completeness report."""

    isolation_id: str
    sample_id: str
    study: str | None
    subject_id: str | None
    visit: str | None
    biofluid: str
    method: str
    isolated_on: date
    report: MisevReport

    def marks(self) -> dict[str, str]:
        """Component name -> ``yes`` (satisfied), ``no`` (missing) or ``n.a.`` (not applicable)."""
        return {
            c.name: ("yes" if c.satisfied else "no") if c.applicable else "n.a."
            for c in self.report.components
        }

    def missing_summary(self) -> str:
        """What is missing, component by component: ``name: item, item; name: item``."""
        parts = [
            f"{c.name}: {', '.join(c.missing)}"
            for c in self.report.components
            if c.applicable and not c.satisfied
        ]
        return "; ".join(parts)


class ComponentShare(BaseModel):
    """How many preparations a component applies to and how many meet it."""

    name: str
    n_applicable: int
    n_satisfied: int
    share_pct: float | None  # 100 * satisfied / applicable; None when it applies to none


class ItemShare(BaseModel):
    """How many preparations meet one MISEV2018 item (share of all preparations)."""

    name: str
    n_satisfied: int
    share_pct: float | None


class StudyCompleteness(BaseModel):
    """Completeness of every EV preparation from a study's samples, and the shares."""

    study: str
    rules_version: str
    n_preparations: int
    mean_score: float | None
    preparations: list[PreparationReport]
    components: list[ComponentShare]
    misev2018: list[ItemShare]


# -- SPREC --------------------------------------------------------------------------------


def explain_code(code: str, sample_id: str | None = None) -> SprecView:
    """Each element of a fluid SPREC code with its meaning.

    A malformed code raises :class:`ValidationFailed` whose field names the element
    (``sprec pre_centrifugation`` ...), or ``sprec code`` when the shape is wrong.
    """
    try:
        elements = sprec_rules.explain_sprec(code)
    except sprec_rules.SprecError as exc:
        raise ValidationFailed([FieldError(f"sprec {exc.element}", str(exc), code)]) from None
    return SprecView(
        sample_id=sample_id,
        code="-".join(e.code for e in elements),
        elements=[
            SprecElementOut(position=e.position, element=e.element, code=e.code, meaning=e.meaning)
            for e in elements
        ],
    )


def _sample_row(tx: Tx, sample_id: str) -> Any:
    row = tx.session.execute(
        select(Sample.biofluid, Sample.sprec, *_sample_columns()).where(
            Sample.sample_code == sample_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no sample {sample_id}")
    return row


def _sample_columns() -> list[Any]:
    return [getattr(Sample, name) for name in PREANALYTICAL_FIELDS]


def sprec_for_sample(tx: Tx, sample_id: str) -> SprecView:
    """The sample's SPREC code (as stored at registration; aliquots carry their parent's)
    with each element explained. A sample stored without a code gets it derived now."""
    row = _sample_row(tx, sample_id)
    code = row.sprec
    if not code:
        values = {name: getattr(row, name) for name in HANDLING_FIELDS}
        code = sprec_rules.derive_sprec(handling_of(values, row.biofluid))
    return explain_code(code, sample_id)


# -- pre-analytics ------------------------------------------------------------------------


def _sample_values(row: Any) -> dict[str, object]:
    return {name: getattr(row, name) for name in PREANALYTICAL_FIELDS}


def preanalytical_for_sample(tx: Tx, sample_id: str) -> list[str]:
    """The blood (MIBlood-EV) or urine pre-analytical items not recorded for a sample, by
    column name (e.g. ``["fasting", "hemolysis"]``); empty for other biofluids."""
    row = _sample_row(tx, sample_id)
    return misev_rules.preanalytical_missing(row.biofluid, _sample_values(row))


def preanalytical_checklist(tx: Tx, sample_id: str) -> list[PreanalyticalItem]:
    """Every pre-analytical item that applies to the sample's biofluid, with its value."""
    row = _sample_row(tx, sample_id)
    values = _sample_values(row)
    items = misev_rules.preanalytical_missing(row.biofluid, {})
    missing = set(misev_rules.preanalytical_missing(row.biofluid, values))
    out: list[PreanalyticalItem] = []
    for name in items:
        shown = None
        for column in _ALTERNATIVES.get(name, (name,)):
            value = values.get(column)
            if value is not None and str(value).strip():
                shown = value if column == name else f"{column} = {value}"
                break
        out.append(
            PreanalyticalItem(
                name=name,
                satisfied=name not in missing,
                value=None if shown is None else _text(shown),
            )
        )
    return out


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# -- loading facts ------------------------------------------------------------------------


def _isolation_query() -> Any:  # a Select of many typed columns
    return (
        select(
            Isolation.id,
            Isolation.isolation_code,
            Isolation.method,
            Isolation.isolated_on,
            Isolation.input_volume_ml,
            Isolation.final_volume_ul,
            Sample.sample_code,
            Sample.biofluid,
            Study.code.label("study"),
            Subject.subject_code,
            Visit.label.label("visit"),
            *_sample_columns(),
        )
        .join(Sample, Sample.id == Isolation.sample_id)
        .outerjoin(Subject, Subject.id == Sample.subject_id)
        .outerjoin(Study, Study.id == Subject.study_id)
        .outerjoin(Visit, Visit.id == Sample.visit_id)
        .order_by(Isolation.isolation_code)
    )


def _steps_by_isolation(tx: Tx, ids: Sequence[int]) -> dict[int, list[StepFacts]]:
    out: dict[int, list[StepFacts]] = defaultdict(list)
    rows = tx.session.execute(
        select(IsolationStep.isolation_id, IsolationStep.method, IsolationStep.params)
        .where(IsolationStep.isolation_id.in_(ids))
        .order_by(IsolationStep.isolation_id, IsolationStep.step_no)
    )
    for iso_pk, method, params in rows:
        out[iso_pk].append(StepFacts(method=method, params=dict(params or {})))
    return out


def _readouts_by_isolation(tx: Tx, ids: Sequence[int]) -> dict[int, list[ReadoutFacts]]:
    out: dict[int, list[ReadoutFacts]] = defaultdict(list)
    rows = tx.session.execute(
        select(
            Readout.isolation_id,
            Analyte.code,
            Analyte.misev_category,
            Readout.assay,
            Readout.unit,
            Readout.value,
            Readout.qualitative,
            Readout.censor,
            Readout.antibody,
            Readout.antibody_dilution,
            Readout.lysis_buffer,
        )
        .join(Analyte, Analyte.id == Readout.analyte_id)
        .where(Readout.isolation_id.in_(ids))
        .order_by(Readout.isolation_id, Readout.id)
    )
    for r in rows:
        out[r.isolation_id].append(
            ReadoutFacts(
                analyte=r.code,
                misev_category=r.misev_category,
                assay=r.assay,
                unit=r.unit,
                value=r.value,
                qualitative=r.qualitative,
                censor=r.censor,
                antibody=r.antibody,
                antibody_dilution=r.antibody_dilution,
                lysis_buffer=r.lysis_buffer,
                category_from_vocabulary=True,
            )
        )
    return out


def _reports(tx: Tx, query: Select[Any]) -> Iterator[PreparationReport]:
    rows = tx.session.execute(query).all()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        ids = [r.id for r in chunk]
        steps = _steps_by_isolation(tx, ids)
        readouts = _readouts_by_isolation(tx, ids)
        for r in chunk:
            facts = IsolationFacts(
                isolation_id=r.isolation_code,
                biofluid=r.biofluid,
                input_volume_ml=r.input_volume_ml,
                final_volume_ul=r.final_volume_ul,
                steps=steps.get(r.id, []),
                readouts=readouts.get(r.id, []),
                sample=_sample_values(r),
            )
            yield PreparationReport(
                isolation_id=r.isolation_code,
                sample_id=r.sample_code,
                study=r.study,
                subject_id=r.subject_code,
                visit=r.visit,
                biofluid=r.biofluid,
                method=r.method,
                isolated_on=r.isolated_on,
                report=misev_rules.evaluate(facts),
            )


def _study_filter(tx: Tx, query: Select[Any], study: str | None) -> Select[Any]:
    if study is None:
        return query
    if tx.session.scalar(select(Study.id).where(Study.code == study)) is None:
        raise NotFound(f"no study {study}")
    return query.where(Study.code == study)


# -- completeness -------------------------------------------------------------------------


def preparation_report(tx: Tx, isolation_id: str) -> PreparationReport:
    """One isolation's report with its sample, study and method."""
    found = list(_reports(tx, _isolation_query().where(Isolation.isolation_code == isolation_id)))
    if not found:
        raise NotFound(f"no isolation {isolation_id}")
    return found[0]


def misev_report(tx: Tx, isolation_id: str) -> MisevReport:
    """EV-METRIC-style score, MISEV2018 items, particles per ug protein and the source
    sample's missing pre-analytical items for one isolation (docs/cli.md, `exolab misev`)."""
    return preparation_report(tx, isolation_id).report


def iter_preparation_reports(tx: Tx, study: str | None = None) -> Iterator[PreparationReport]:
    """Reports of every isolation (or those from one study's samples), by isolation id."""
    return _reports(tx, _study_filter(tx, _isolation_query(), study))


def preparation_reports(tx: Tx, study: str | None = None) -> list[PreparationReport]:
    """:func:`iter_preparation_reports` as a list."""
    return list(iter_preparation_reports(tx, study))


def misev_reports(tx: Tx, study: str | None = None) -> list[MisevReport]:
    """The :class:`MisevReport` of every isolation (or of one study's), by isolation id."""
    return [p.report for p in iter_preparation_reports(tx, study)]


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def summarise(study: str, preparations: list[PreparationReport]) -> StudyCompleteness:
    """Shares of preparations meeting each component and MISEV2018 item."""
    n = len(preparations)
    components = []
    for name in COMPONENT_NAMES:
        results = [c for p in preparations for c in p.report.components if c.name == name]
        applicable = sum(c.applicable for c in results)
        satisfied = sum(c.satisfied for c in results)
        components.append(
            ComponentShare(
                name=name,
                n_applicable=applicable,
                n_satisfied=satisfied,
                share_pct=_pct(satisfied, applicable),
            )
        )
    item_names = [i.name for i in preparations[0].report.misev2018] if preparations else []
    items = []
    for name in item_names:
        met = sum(i.satisfied for p in preparations for i in p.report.misev2018 if i.name == name)
        items.append(ItemShare(name=name, n_satisfied=met, share_pct=_pct(met, n)))
    mean = round(sum(p.report.score for p in preparations) / n, 1) if n else None
    return StudyCompleteness(
        study=study,
        rules_version=RULES_VERSION,
        n_preparations=n,
        mean_score=mean,
        preparations=preparations,
        components=components,
        misev2018=items,
    )


def study_completeness(tx: Tx, study: str) -> StudyCompleteness:
    """Every EV preparation made from the study's samples with its report, and the share of
    preparations meeting each component (of those it applies to) and each MISEV2018 item."""
    return summarise(study, preparation_reports(tx, study))
