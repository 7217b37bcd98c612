"""Analytes (the marker vocabulary) and readouts (measured values)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from functools import cache
from operator import attrgetter
from typing import Any

from pydantic import BaseModel
from sqlalchemy import bindparam, select
from sqlalchemy.orm.attributes import flag_modified

from exolab.db.models import Analyte, AssayRun, Isolation, Readout, Sample
from exolab.db.raw import reader_for
from exolab.domain.markers import SEED_ANALYTES, normalize_analyte_code
from exolab.domain.readout_rules import key_text, parse_key_text, run_mismatch
from exolab.domain.schemas import ReadoutIn
from exolab.services import readout_sets
from exolab.services.analyte_lookup import find_analyte
from exolab.services.audit import AuditRow, list_events, with_creating_batch
from exolab.services.common import (
    audit_update,
    check_version,
    column_values,
    diff,
    require_reason,
    validate,
)
from exolab.services.context import Tx
from exolab.services.errors import Conflict, FieldError, NotFound, ValidationFailed


class AnalyteOut(BaseModel):
    code: str
    name: str | None
    kind: str | None
    misev_category: str | None
    default_unit: str | None
    synonyms: list[str]


class ReadoutOut(BaseModel):
    id: int
    isolation_id: str | None
    sample_id: str
    analyte: str
    value: str  # the original text
    numeric: float | None
    comparator: str
    censor: str
    qualitative: str | None
    unit: str | None
    assay: str
    run_id: str | None
    measured_on: date | None
    replicate: int
    lod: float | None
    lloq: float | None
    uloq: float | None
    antibody: str | None
    antibody_dilution: str | None
    lysis_buffer: str | None
    instrument: str | None
    qc: str | None
    notes: str | None
    well: str | None = None
    dilution_factor: float | None = None
    version: int

    def as_input(self) -> dict[str, Any]:
        """The import-column form (:func:`readout_input`)."""
        return readout_input(self.model_dump())


def readout_input(fields: dict[str, Any]) -> dict[str, Any]:
    """The import-column form (docs/import-formats.md, readouts) of a readout's
    :class:`ReadoutOut` fields: a readout of an isolation names the isolation alone."""
    return {
        "isolation_id": fields["isolation_id"],
        "sample_id": None if fields["isolation_id"] else fields["sample_id"],
        "analyte": fields["analyte"],
        "value": fields["value"],
        "unit": fields["unit"],
        "assay": fields["assay"],
        "run_id": fields["run_id"],
        "measured_on": fields["measured_on"],
        "replicate": fields["replicate"],
        "lod": fields["lod"],
        "lloq": fields["lloq"],
        "uloq": fields["uloq"],
        "antibody": fields["antibody"],
        "antibody_dilution": fields["antibody_dilution"],
        "lysis_buffer": fields["lysis_buffer"],
        "instrument": fields["instrument"],
        "qc": fields["qc"],
        "notes": fields["notes"],
        "well": fields["well"],
        "dilution_factor": fields["dilution_factor"],
    }


def seed_analytes(tx: Tx) -> int:
    """Add the marker vocabulary's seed analytes that the database does not have yet."""
    have = set(tx.session.scalars(select(Analyte.code)))
    n = 0
    for a in SEED_ANALYTES:
        if a.code in have:
            continue
        tx.session.add(
            Analyte(
                code=a.code,
                name=a.name,
                kind=a.kind,
                misev_category=a.misev_category,
                default_unit=a.default_unit,
                synonyms=list(a.synonyms),
            )
        )
        n += 1
    if n:
        tx.session.flush()
    return n


def _analyte_out(a: Analyte) -> AnalyteOut:
    return AnalyteOut(
        code=a.code,
        name=a.name,
        kind=a.kind,
        misev_category=a.misev_category,
        default_unit=a.default_unit,
        synonyms=list(a.synonyms or []),
    )


def list_analytes(tx: Tx) -> list[AnalyteOut]:
    return [_analyte_out(a) for a in tx.session.scalars(select(Analyte).order_by(Analyte.code))]


def analyte_for(tx: Tx, code: str, *, create: bool = True, batch_id: int | None = None) -> Analyte:
    """The analyte for a code or synonym (:func:`exolab.services.analyte_lookup.find_analyte`,
    the rule every reader uses too); a new analyte is added (audited) when unknown."""
    canonical = normalize_analyte_code(code)
    cache: dict[str, Analyte] = tx.memo.setdefault("analytes", {})
    if code in cache:
        return cache[code]
    pk = find_analyte(reader_for(tx), code)
    a = None if pk is None else tx.session.get(Analyte, pk)
    if a is not None:
        cache[code] = a
        return a
    if not create:
        raise NotFound(f"no analyte {code}")
    a = Analyte(code=canonical, synonyms=[])
    tx.session.add(a)
    tx.session.flush()
    cache[code] = a
    tx.audit("create", "analyte", canonical, new={"code": canonical}, batch_id=batch_id)
    return a


def update_analyte(
    tx: Tx,
    code: str,
    *,
    name: str | None = None,
    kind: str | None = None,
    misev_category: str | None = None,
    default_unit: str | None = None,
    synonyms: list[str] | None = None,
    reason: str | None = None,
) -> AnalyteOut:
    """Admin-only: correct an analyte's MISEV category, kind, unit or synonyms."""
    from exolab.domain import vocab
    from exolab.domain.units import normalize_unit

    tx.require_admin("edit the analyte vocabulary")
    reason = require_reason(reason, "edit an analyte")
    a = analyte_for(tx, code, create=False)
    old_all = column_values(a)
    try:
        if name is not None:
            a.name = name or None
        if kind is not None:
            a.kind = vocab.ANALYTE_KIND.normalize(kind) if kind else None
        if misev_category is not None:
            a.misev_category = (
                vocab.MISEV_CATEGORY.normalize(misev_category) if misev_category else None
            )
        if default_unit is not None:
            a.default_unit = normalize_unit(default_unit) if default_unit else None
        if synonyms is not None:
            a.synonyms = [s.strip() for s in synonyms if s.strip()]
    except ValueError as exc:
        raise ValidationFailed([FieldError("analyte", str(exc))]) from None
    old, new = diff(old_all, column_values(a))
    if new:
        tx.session.flush()
        tx.audit("update", "analyte", a.code, old=old, new=new, reason=reason)
    return _analyte_out(a)


def _target(tx: Tx, r: ReadoutIn) -> tuple[int, int | None]:
    if r.isolation_id:
        row = tx.session.execute(
            select(Isolation.id, Isolation.sample_id).where(
                Isolation.isolation_code == r.isolation_id
            )
        ).first()
        if row is None:
            raise ValidationFailed(
                [FieldError("isolation_id", f"no isolation {r.isolation_id}", r.isolation_id)]
            )
        return row[1], row[0]
    sample_pk = tx.session.scalar(select(Sample.id).where(Sample.sample_code == r.sample_id))
    if sample_pk is None:
        raise ValidationFailed([FieldError("sample_id", f"no sample {r.sample_id}", r.sample_id)])
    return sample_pk, None


def run_values(
    tx: Tx,
    run_code: str,
    assay: str,
    measured_on: date | None,
    instrument: str | None,
    batch_id: int | None = None,
) -> dict[str, Any]:
    """The stored columns of a run a readout names for the first time (every write path)."""
    return {
        "run_code": run_code,
        "assay": assay,
        "measured_on": measured_on,
        "instrument": instrument,
        "operator": tx.actor.name,
        "batch_id": batch_id,
    }


def ensure_run(
    tx: Tx,
    run_code: str,
    assay: str,
    measured_on: date | None,
    instrument: str | None,
    batch_id: int | None = None,
) -> None:
    """Create the run on its first readout; refuse a readout giving it another assay (the run
    rule of domain/readout_rules.py, which the bulk import applies too)."""
    stored = tx.session.scalar(select(AssayRun.assay).where(AssayRun.run_code == run_code))
    if stored is None:
        tx.session.add(
            AssayRun(**run_values(tx, run_code, assay, measured_on, instrument, batch_id))
        )
        tx.session.flush()
        return
    problem = run_mismatch(run_code, stored, assay)
    if problem is not None:
        raise ValidationFailed([FieldError("run_id", problem, run_code)])


def _values(r: ReadoutIn) -> dict[str, Any]:
    p = r.parsed()
    return {
        "value_text": p.text,
        "value": p.value,
        "comparator": p.comparator,
        "censor": p.censor,
        "qualitative": p.qualitative,
        "unit": r.unit,
        "lod": r.lod,
        "lloq": r.lloq,
        "uloq": r.uloq,
        "antibody": r.antibody,
        "antibody_dilution": r.antibody_dilution,
        "lysis_buffer": r.lysis_buffer,
        "instrument": r.instrument,
        "measured_on": r.measured_on,
        "qc": r.qc,
        "notes": r.notes,
        "well": r.well,
        "dilution_factor": r.dilution_factor,
    }


def record_readout(
    tx: Tx, data: ReadoutIn | dict[str, Any], batch_id: int | None = None
) -> ReadoutOut:
    tx.require_write("record readouts")
    r = validate(ReadoutIn, data)
    sample_pk, iso_pk = _target(tx, r)
    analyte = analyte_for(tx, r.analyte, batch_id=batch_id)
    run_code = r.run_id or ""
    if run_code:
        ensure_run(tx, run_code, r.assay, r.measured_on, r.instrument, batch_id)
    if _stored_id(tx, r, sample_pk, iso_pk, analyte.id) is not None:
        raise Conflict(
            f"a readout of {analyte.code} by {r.assay} (run '{run_code}', replicate {r.replicate}) "
            f"already exists on {r.isolation_id or r.sample_id}"
        )
    ro = Readout(
        sample_id=sample_pk,
        isolation_id=iso_pk,
        analyte_id=analyte.id,
        assay=r.assay,
        run_code=run_code,
        replicate=r.replicate,
        created_by=tx.actor.name,
        batch_id=batch_id,
        **_values(r),
    )
    tx.session.add(ro)
    tx.session.flush()
    readout_sets.refresh(tx, [(sample_pk, analyte.id)])  # keep readout_sets current
    if batch_id is None:
        # A readout entered on its own has its own create event. One created by an import
        # (batch_id given) is listed by its batch's import event instead, as the bulk import
        # does: the audit rule of every readout import (docs/bulk-imports.md).
        tx.audit("create", "readout", _key(r, analyte.code), new=column_values(ro))
    return _entity_out(ro, analyte.code, _sample_code(tx, r, sample_pk), r.isolation_id)


def _stored_id(
    tx: Tx, r: ReadoutIn, sample_pk: int, iso_pk: int | None, analyte_pk: int
) -> int | None:
    """The stored readout with ``r``'s natural key (domain/readout_rules.py: the isolation if
    given, else the sample without isolation; analyte, assay, run, replicate), or None."""
    q = select(Readout.id).where(
        Readout.analyte_id == analyte_pk,
        Readout.assay == r.assay,
        Readout.run_code == (r.run_id or ""),
        Readout.replicate == r.replicate,
    )
    q = (
        q.where(Readout.isolation_id == iso_pk)
        if iso_pk
        else q.where(Readout.sample_id == sample_pk, Readout.isolation_id.is_(None))
    )
    found = tx.session.scalar(q)
    return None if found is None else int(found)


def find_readout(tx: Tx, data: ReadoutIn) -> ReadoutOut | None:
    """The stored readout with this row's natural key, or None (also when its target or
    analyte does not exist yet: recording it says which)."""
    try:
        sample_pk, iso_pk = _target(tx, data)
        analyte = analyte_for(tx, data.analyte, create=False)
    except (ValidationFailed, NotFound):
        return None
    pk = _stored_id(tx, data, sample_pk, iso_pk, analyte.id)
    return None if pk is None else get_readout(tx, pk)


def key_of(tx: Tx, r: ReadoutIn) -> tuple[Any, ...]:
    """A row's natural key with its analyte resolved (a synonym names its analyte, as when
    the row is stored), for finding a key repeated inside one file."""
    try:
        analyte = analyte_for(tx, r.analyte, create=False).code
    except NotFound:
        analyte = r.analyte  # a new analyte: its code is the text
    return (r.isolation_id, r.sample_id, analyte, r.assay, r.run_id or "", r.replicate)


def runs_created(tx: Tx, batch_id: int) -> int:
    """How many assay runs a batch created (its readouts named them first)."""
    return len(tx.session.scalars(select(AssayRun.id).where(AssayRun.batch_id == batch_id)).all())


def _sample_code(tx: Tx, r: ReadoutIn, sample_pk: int) -> str:
    if r.sample_id:
        return r.sample_id
    return str(tx.session.scalar(select(Sample.sample_code).where(Sample.id == sample_pk)))


def _key(r: ReadoutIn, analyte: str) -> str:
    return key_text(r.isolation_id or r.sample_id or "", analyte, r.assay, r.run_id, r.replicate)


def record_readouts(tx: Tx, rows: list[dict[str, Any]]) -> list[ReadoutOut]:
    """Several readouts in one transaction (e.g. a run's grid); the first error names its row."""
    out = []
    for i, row in enumerate(rows, start=1):
        try:
            out.append(record_readout(tx, row))
        except ValidationFailed as exc:
            raise ValidationFailed(
                [FieldError(f"row {i} {e.field}", e.message, e.value) for e in exc.errors]
            ) from None
    return out


# ReadoutOut's fields that are a readout's own columns: (field, column).
_OWN = (
    ("id", "id"),
    ("value", "value_text"),
    ("numeric", "value"),
    ("comparator", "comparator"),
    ("censor", "censor"),
    ("qualitative", "qualitative"),
    ("unit", "unit"),
    ("assay", "assay"),
    ("run_id", "run_code"),
    ("measured_on", "measured_on"),
    ("replicate", "replicate"),
    ("lod", "lod"),
    ("lloq", "lloq"),
    ("uloq", "uloq"),
    ("antibody", "antibody"),
    ("antibody_dilution", "antibody_dilution"),
    ("lysis_buffer", "lysis_buffer"),
    ("instrument", "instrument"),
    ("qc", "qc"),
    ("notes", "notes"),
    ("well", "well"),
    ("dilution_factor", "dilution_factor"),
    ("version", "version"),
)
_OWN_FIELDS = tuple(f for f, _ in _OWN)
_OWN_VALUES = attrgetter(*(c for _, c in _OWN))
_N_OWN = len(_OWN)


@cache
def _readout_query() -> Any:
    """A readout's own columns (``_OWN``) with its analyte, sample and isolation codes (built
    once: a statement is immutable, each ``where`` makes a new one)."""
    return (
        select(
            *(getattr(Readout, c) for _, c in _OWN),
            Analyte.code,
            Sample.sample_code,
            Isolation.isolation_code,
        )
        .join(Analyte, Analyte.id == Readout.analyte_id)
        .join(Sample, Sample.id == Readout.sample_id)
        .outerjoin(Isolation, Isolation.id == Readout.isolation_id)
    )


@cache
def _readout_by_id() -> Any:
    """:func:`_readout_query` of one readout (its id bound as ``pk``): built once, as an
    update import reads a readout for each row."""
    return _readout_query().where(Readout.id == bindparam("pk"))


def _fields(row: Sequence[Any]) -> dict[str, Any]:
    """The :class:`ReadoutOut` fields of a row of :func:`_readout_query` (the readout's own
    columns, then its analyte, sample and isolation codes)."""
    fields = dict(zip(_OWN_FIELDS, row, strict=False))  # (the first _N_OWN)
    fields["run_id"] = fields["run_id"] or None  # ('' when no run was named)
    fields["analyte"], fields["sample_id"], fields["isolation_id"] = row[_N_OWN:]
    return fields


def _out(row: Sequence[Any]) -> ReadoutOut:
    return ReadoutOut(**_fields(row))


def _entity_out(ro: Readout, analyte: str, sample: str, iso: str | None) -> ReadoutOut:
    """:func:`_out` of a readout entity (just written) and its codes."""
    return _out((*_OWN_VALUES(ro), analyte, sample, iso))


def _stream(tx: Tx, page: int) -> Iterator[Any]:
    """Every readout's :func:`_readout_query` row in id order, ``page`` rows at a time
    (memory flat; a server-side cursor on PostgreSQL; Core rows: no ORM result layer)."""
    q = _readout_query().order_by(Readout.id).execution_options(yield_per=page)
    yield from tx.session.connection().execute(q)


def iter_readouts(tx: Tx, *, page: int = 5000) -> Iterator[ReadoutOut]:
    """Every readout in id order, streamed ``page`` rows at a time (memory flat)."""
    return map(_out, _stream(tx, page))


def iter_readout_inputs(tx: Tx, *, page: int = 5000) -> Iterator[dict[str, Any]]:
    """Every readout in id order in its import-column form (what
    :meth:`ReadoutOut.as_input` gives): no entity or model per readout. The values are the
    stored ones, which ReadoutOut takes unchanged."""
    for row in _stream(tx, page):
        yield readout_input(_fields(row))


def get_readout(tx: Tx, readout_pk: int) -> ReadoutOut:
    row = tx.session.execute(_readout_by_id(), {"pk": readout_pk}).first()
    if row is None:
        raise NotFound(f"no readout {readout_pk}")
    return _out(row)


def readouts_of(
    tx: Tx,
    *,
    sample: str | None = None,
    isolation: str | None = None,
    include_isolations: bool = False,
) -> list[ReadoutOut]:
    q = _readout_query()
    if isolation:
        q = q.where(Isolation.isolation_code == isolation)
    elif sample:
        q = q.where(Sample.sample_code == sample)
        if not include_isolations:
            q = q.where(Readout.isolation_id.is_(None))
    q = q.order_by(Analyte.code, Readout.assay, Readout.run_code, Readout.replicate)
    return [_out(r) for r in tx.session.execute(q)]


def update_readout(
    tx: Tx,
    readout_pk: int,
    changes: dict[str, Any],
    *,
    reason: str | None,
    expected_version: int | None = None,
    batch_id: int | None = None,
) -> ReadoutOut:
    """Correct a readout's value, unit, limits, QC...; its key fields are not edited here
    (the rules: :func:`edit_readout`)."""
    tx.require_write("edit readouts")
    reason = require_reason(reason, "edit a readout")
    current = get_readout(tx, readout_pk)
    ro = tx.session.get(Readout, readout_pk)
    assert ro is not None
    check_version("readout", str(readout_pk), ro.version, expected_version)
    edit_readout(tx, ro, current, changes, reason=reason, batch_id=batch_id)
    readout_sets.refresh(tx, [(ro.sample_id, ro.analyte_id)])  # keep readout_sets current
    return get_readout(tx, readout_pk)


# The fields of a readout's natural key (domain/readout_rules.py): an edit does not change them
KEY_FIELDS = ("isolation_id", "sample_id", "analyte", "assay", "run_id", "replicate")


def edit_readout(
    tx: Tx,
    ro: Readout,
    current: ReadoutOut,
    changes: dict[str, Any],
    *,
    reason: str,
    batch_id: int | None = None,
    events: list[Any] | None = None,
    checked: ReadoutIn | None = None,
) -> None:
    """The rules of an edit (:func:`update_readout`'s) on the stored readout ``ro`` and
    ``current``, what :func:`get_readout` gives of it: a key field is not edited, the readout
    with the changes over it is validated as ``ReadoutIn``, its values set and the change
    audited (no change, no event). An update import of many (docs/bulk-imports.md,
    "Updates") calls this with the readouts it read for a chunk, ``events`` (the audit events,
    appended together after the chunk is flushed: ``audit_update``) and ``checked``, the
    row it validated already when that is ``current`` with ``changes`` over it; it refreshes
    readout_sets for the chunk's readouts itself (the caller of this function does)."""
    base = current.as_input()
    for key in KEY_FIELDS:
        if key in changes and changes[key] != base[key]:
            raise ValidationFailed(
                [FieldError(key, "is part of the readout's key; record a new readout")]
            )
    r = checked or validate(ReadoutIn, base | changes, changed=changes)
    values = _values(r)
    changed = [k for k, v in values.items() if getattr(ro, k) != v]  # (the others stay)
    old = column_values(ro, only=changed)
    for k in changed:
        setattr(ro, k, values[k])
    audit_update(
        tx,
        ro,
        "readout",
        _key(r, current.analyte),
        old,
        reason=reason,
        batch_id=batch_id,
        events=events,
        only=changed,
    )


# The columns an edit sets (:func:`_values`)
EDITED_COLUMNS = (
    "value_text", "value", "comparator", "censor", "qualitative", "unit", "lod", "lloq", "uloq",
    "antibody", "antibody_dilution", "lysis_buffer", "instrument", "measured_on", "qc", "notes",
    "well", "dilution_factor",
)  # fmt: skip


def one_update_shape(edited: Iterable[Readout]) -> None:
    """Mark every column an edit sets as changed on these edited readouts (their values as
    they are), so that the flush writes them with one UPDATE statement in one batch: the
    unit of work batches consecutive rows of the same changed columns only, and a chunk of
    corrections changes different columns from readout to readout (a value, a value and its
    censoring, a unit...), which made many small batches (on PostgreSQL each a round trip)."""
    for ro in edited:
        for column in EDITED_COLUMNS:
            flag_modified(ro, column)


def readouts_by_id(tx: Tx, pks: Iterable[int]) -> tuple[dict[int, ReadoutOut], dict[int, Readout]]:
    """The readouts of these ids as :func:`get_readout` gives them and as stored entities
    (for :func:`edit_readout`), in a few queries (an update import's chunk)."""
    ids = sorted(set(pks))
    out: dict[int, ReadoutOut] = {}
    entities: dict[int, Readout] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        part = ids[i : i + _IN_CHUNK]
        for row in tx.session.execute(_readout_query().where(Readout.id.in_(part))):
            r = _out(row)
            out[r.id] = r
        for ro in tx.session.scalars(select(Readout).where(Readout.id.in_(part))):
            entities[ro.id] = ro
    return out, entities


def readouts_by_key(
    tx: Tx, keys: Iterable[tuple[str | None, str | None, str, str, str, int]]
) -> dict[tuple[str | None, str | None, str, str, str, int], int]:
    """The stored readouts of these natural keys (isolation code, sample code: one of them;
    analyte code or synonym, assay, run code ('' when none), replicate), in a few queries:
    key -> readout id, for the keys that exist (:func:`find_readout` of many). A key whose
    isolation, sample or analyte does not exist is not found, as there."""
    keys = list(dict.fromkeys(keys))
    iso_codes = sorted({k[0] for k in keys if k[0]})
    sample_codes = sorted({k[1] for k in keys if not k[0] and k[1]})
    isos: dict[str, int] = {}
    samples: dict[str, int] = {}
    for i in range(0, len(iso_codes), _IN_CHUNK):
        part = iso_codes[i : i + _IN_CHUNK]
        q = select(Isolation.isolation_code, Isolation.id).where(Isolation.isolation_code.in_(part))
        isos.update((code, pk) for code, pk in tx.session.execute(q))
    for i in range(0, len(sample_codes), _IN_CHUNK):
        part = sample_codes[i : i + _IN_CHUNK]
        q2 = select(Sample.sample_code, Sample.id).where(Sample.sample_code.in_(part))
        samples.update((code, pk) for code, pk in tx.session.execute(q2))
    analytes: dict[str, int] = {}
    for text in {k[2] for k in keys}:
        try:
            analytes[text] = analyte_for(tx, text, create=False).id
        except NotFound:
            continue
    # (target: isolation id * 2 + 1, or sample id * 2; analyte id, assay, run, replicate)
    wanted: dict[tuple[int, int, str, str, int], list[Any]] = {}
    for k in keys:
        iso, sample, analyte, assay, run, replicate = k
        target = (isos[iso] * 2 + 1 if iso in isos else None) if iso else None
        if not iso and sample in samples:
            target = samples[sample] * 2
        analyte_pk = analytes.get(analyte)
        if target is None or analyte_pk is None:
            continue
        wanted.setdefault((target, analyte_pk, assay, run, replicate), []).append(k)
    found: dict[tuple[str | None, str | None, str, str, str, int], int] = {}
    columns = (
        Readout.id, Readout.sample_id, Readout.isolation_id, Readout.analyte_id, Readout.assay,
        Readout.run_code, Readout.replicate,
    )  # fmt: skip
    analyte_pks = sorted(set(analytes.values()))
    for targets, on_isolations in (
        (sorted(isos.values()), True),
        (sorted(samples.values()), False),
    ):
        for i in range(0, len(targets), _IN_CHUNK):
            ids = targets[i : i + _IN_CHUNK]
            q3 = select(*columns).where(Readout.analyte_id.in_(analyte_pks))
            q3 = (
                q3.where(Readout.isolation_id.in_(ids))
                if on_isolations
                else q3.where(Readout.sample_id.in_(ids), Readout.isolation_id.is_(None))
            )
            for pk, s_pk, i_pk, a_pk, assay, run, replicate in tx.session.execute(q3):
                target = i_pk * 2 + 1 if i_pk else s_pk * 2
                for k in wanted.get((target, a_pk, assay, run, replicate), ()):
                    found[k] = pk
    return found


_IN_CHUNK = 500  # values bound in one IN (...): well under SQLite's variable limit


def delete_readout(tx: Tx, readout_pk: int, *, reason: str | None) -> None:
    tx.require_write("delete readouts")
    reason = require_reason(reason, "delete a readout")
    ro = tx.session.get(Readout, readout_pk)
    if ro is None:
        raise NotFound(f"no readout {readout_pk}")
    old = column_values(ro)
    tx.session.delete(ro)
    tx.session.flush()
    readout_sets.refresh(tx, [(ro.sample_id, ro.analyte_id)])  # keep readout_sets current
    tx.audit("delete", "readout", str(readout_pk), old=old, reason=reason)


def readout_events(tx: Tx, key: str, *, limit: int | None = 200) -> list[AuditRow]:
    """A readout's history in the audit trail, newest first: the events naming its key
    (``target/analyte/assay/run/replicate``: a create when entered on its own, updates,
    a delete) and, when an import created it, that batch's ``import`` event, which lists what
    the batch created (docs/bulk-imports.md, the audit rule of readout imports)."""
    events = list_events(tx, entity="readout", entity_id=key, limit=limit)
    batch: int | None = None
    try:
        target, analyte, assay, run, rep = parse_key_text(key)
    except ValueError:
        target = ""
    if target:
        r = ReadoutIn.model_construct(
            isolation_id=target, sample_id=None, analyte=analyte, assay=assay,
            run_id=run or None, replicate=rep, value="",
        )  # fmt: skip
        found = find_readout(tx, r) or find_readout(
            tx, r.model_copy(update={"isolation_id": None, "sample_id": target})
        )
        if found is not None:
            batch = tx.session.scalar(select(Readout.batch_id).where(Readout.id == found.id))
    return with_creating_batch(tx, events, batch, limit=limit)
