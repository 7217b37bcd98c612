"""Samples (tubes): registration with pre-analytics and SPREC, aliquots, moves and status."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import date, datetime
from operator import attrgetter, itemgetter
from typing import Any

from pydantic import BaseModel
from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from exolab.db.models import Box, CellSource, Sample, Study, Subject, Visit
from exolab.domain import sprec as sprec_rules
from exolab.domain.schemas import Location, SampleIn, parse_location
from exolab.services import lifecycle
from exolab.services.common import (
    IN_LIST,
    audit_update,
    check_version,
    column_values,
    diff,
    require_reason,
    touch,
    validate,
)
from exolab.services.context import Tx
from exolab.services.errors import Conflict, FieldError, NotFound, ValidationFailed
from exolab.services.storage import PositionView, resolve_location
from exolab.services.subjects import find_subject, get_or_create_visit

# Pre-analytical fields an aliquot inherits from its parent (import column names, docs/import-formats.md).
HANDLING_FIELDS = (
    "tube",
    "processed_at",
    "pre_centrifugation_delay_min",
    "pre_centrifugation_temp",
    "spin1_g",
    "spin1_min",
    "spin1_temp_c",
    "spin1_brake",
    "spin2_g",
    "spin2_min",
    "spin2_temp_c",
    "spin2_brake",
    "post_centrifugation_delay_min",
    "post_centrifugation_temp",
    "storage_temp_c",
    "storage_container",
    "fasting",
    "hemolysis",
    "a414",
    "urine_void",
    "protease_inhibitor",
)


class SampleOut(BaseModel):
    id: int
    sample_id: str
    biofluid: str
    collected_at: datetime
    study: str | None
    subject_id: str | None
    visit: str | None
    cell_source_id: str | None
    parent_sample_id: str | None
    tube: str | None
    volume_ml: float | None
    processed_at: datetime | None
    pre_centrifugation_delay_min: float | None
    pre_centrifugation_temp: str | None
    spin1_g: float | None
    spin1_min: float | None
    spin1_temp_c: float | None
    spin1_brake: str | None
    spin2_g: float | None
    spin2_min: float | None
    spin2_temp_c: float | None
    spin2_brake: str | None
    post_centrifugation_delay_min: float | None
    post_centrifugation_temp: str | None
    storage_temp_c: float | None
    storage_container: str | None
    sprec: str | None
    fasting: str | None
    hemolysis: str | None
    a414: float | None
    urine_void: str | None
    protease_inhibitor: str | None
    location: str | None
    freeze_thaw_count: int
    status: str
    notes: str | None
    version: int
    volume_taken_ml: float = 0.0  # by isolations and aliquots (docs/lifecycle.md)

    def as_input(self) -> dict[str, Any]:
        """The import-column form of this sample (what export writes, what edits start from):
        :func:`sample_input` of its fields."""
        return sample_input(self.model_dump())


def sample_input(fields: dict[str, Any]) -> dict[str, Any]:
    """The import-column form of a sample's :class:`SampleOut` fields (``fields`` itself,
    changed): without its id, version and volume taken, and with ``volume_ml`` the volume the
    tube was registered with (what is left plus what isolations and aliquots took), as in a
    samples file: re-importing the records gives back the same volume."""
    taken = fields.pop("volume_taken_ml") or 0.0
    del fields["id"], fields["version"]
    if fields["volume_ml"] is not None:
        fields["volume_ml"] = round(fields["volume_ml"] + taken, 6)
    return fields


_PARENT = aliased(Sample, name="parent_sample")
# A sample's own columns that SampleOut shows under the same name (and its position).
_OWN_COLUMNS = (
    "id",
    "biofluid",
    "collected_at",
    "volume_ml",
    "volume_taken_ml",
    "sprec",
    "freeze_thaw_count",
    "status",
    "notes",
    "version",
    *HANDLING_FIELDS,
)
_SAMPLE_QUERY: Any = None


def _sample_query() -> Any:
    """The sample's columns with its study, subject, visit, cell source, parent and box, as
    plain rows (:func:`_fields`; built once)."""
    global _SAMPLE_QUERY
    if _SAMPLE_QUERY is None:
        _SAMPLE_QUERY = (
            select(
                *(getattr(Sample, c) for c in _OWN_COLUMNS),
                Sample.sample_code,
                Sample.position,
                Study.code,
                Subject.subject_code,
                Visit.label,
                CellSource.code,
                _PARENT.sample_code,
                Box.path,
            )
            .outerjoin(Subject, Subject.id == Sample.subject_id)
            .outerjoin(Study, Study.id == Subject.study_id)
            .outerjoin(Visit, Visit.id == Sample.visit_id)
            .outerjoin(CellSource, CellSource.id == Sample.cell_source_id)
            .outerjoin(_PARENT, _PARENT.id == Sample.parent_id)
            .outerjoin(Box, Box.id == Sample.box_id)
        )
    return _SAMPLE_QUERY


_N_OWN = len(_OWN_COLUMNS)


def _fields(row: Any) -> dict[str, Any]:
    """The :class:`SampleOut` fields of a row of :func:`_sample_query`."""
    fields = dict(zip(_OWN_COLUMNS, row, strict=False))  # (the first _N_OWN)
    code, position, study, subject, visit, cell, parent, box_path = row[_N_OWN:]
    fields["sample_id"] = code
    fields["study"] = study
    fields["subject_id"] = subject
    fields["visit"] = visit
    fields["cell_source_id"] = cell
    fields["parent_sample_id"] = parent
    fields["location"] = (box_path + (f"/{position}" if position else "")) if box_path else None
    if fields["volume_taken_ml"] is None:
        fields["volume_taken_ml"] = 0.0
    return fields


def _out(row: Any) -> SampleOut:
    return SampleOut(**_fields(row))


def iter_sample_inputs(tx: Tx, page: int) -> Iterator[dict[str, Any]]:
    """Every sample in the order they were added, in its import-column form (what
    :meth:`SampleOut.as_input` gives), read as plain rows ``page`` at a time (a server-side
    cursor on PostgreSQL): the export of a biobank's tubes builds no entity or model per tube.
    The values are the stored ones, which :class:`SampleOut` takes unchanged."""
    q = _sample_query().order_by(Sample.id).execution_options(yield_per=page)
    for row in tx.session.connection().execute(q):  # (Core rows: no ORM result layer)
        yield sample_input(_fields(row))


# Lookups the row-by-row import runs for every row, built once: building the expression and
# its cache key per call cost more than the query.
_SAMPLE_BY_CODE = select(Sample).where(Sample.sample_code == bindparam("code"))


def find_sample(tx: Tx, code: str) -> Sample | None:
    return tx.session.scalar(_SAMPLE_BY_CODE, {"code": code})


def _require(tx: Tx, code: str) -> Sample:
    sample = find_sample(tx, code)
    if sample is None:
        raise NotFound(f"no sample {code}")
    return sample


def get_sample(tx: Tx, code: str) -> SampleOut:
    row = tx.session.execute(_sample_query().where(Sample.sample_code == code)).first()
    if row is None:
        raise NotFound(f"no sample {code}")
    return _out(row)


def samples_by_code(tx: Tx, codes: list[str]) -> dict[str, SampleOut]:
    """The stored samples of these codes (those that exist), as :func:`get_sample` gives
    each: a few queries for many (the bulk import compares a file's stored rows with them)."""
    out: dict[str, SampleOut] = {}
    for i in range(0, len(codes), IN_LIST):
        part = codes[i : i + IN_LIST]
        for row in tx.session.execute(_sample_query().where(Sample.sample_code.in_(part))):
            sample = _out(row)
            out[sample.sample_id] = sample
    return out


def tubes_by_code(tx: Tx, codes: list[str]) -> dict[str, Sample]:
    """The stored tubes of these codes (those that exist), as the records an edit changes
    (:func:`edit_sample`): a few queries for many."""
    out: dict[str, Sample] = {}
    for i in range(0, len(codes), IN_LIST):
        for sample in tx.session.scalars(
            select(Sample).where(Sample.sample_code.in_(codes[i : i + IN_LIST]))
        ):
            out[sample.sample_code] = sample
    return out


def samples_by_id(tx: Tx, ids: list[int]) -> list[SampleOut]:
    rows = tx.session.execute(_sample_query().where(Sample.id.in_(ids))).all()
    return [_out(r) for r in rows]


def handling_of(values: dict[str, Any], biofluid: str) -> sprec_rules.SampleHandling:
    return sprec_rules.SampleHandling(
        biofluid=biofluid,
        tube=values.get("tube"),
        urine_void=values.get("urine_void"),
        pre_centrifugation_delay_min=values.get("pre_centrifugation_delay_min"),
        pre_centrifugation_temp=values.get("pre_centrifugation_temp"),
        spin1_g=values.get("spin1_g"),
        spin1_min=values.get("spin1_min"),
        spin1_temp_c=values.get("spin1_temp_c"),
        spin1_brake=values.get("spin1_brake"),
        spin2_g=values.get("spin2_g"),
        spin2_min=values.get("spin2_min"),
        spin2_temp_c=values.get("spin2_temp_c"),
        spin2_brake=values.get("spin2_brake"),
        post_centrifugation_delay_min=values.get("post_centrifugation_delay_min"),
        post_centrifugation_temp=values.get("post_centrifugation_temp"),
        storage_temp_c=values.get("storage_temp_c"),
        storage_container=values.get("storage_container"),
    )


def resolve_sprec(values: dict[str, Any], biofluid: str, given: str | None) -> str:
    """Derive the SPREC code from the recorded fields; a given code must agree and fills gaps.

    Mutates ``values`` with the categorical fields a given code determines when not recorded.
    """
    if given:
        code = given.strip().upper()
        try:
            implied = sprec_rules.implied_fields(code)
        except ValueError as exc:
            raise ValidationFailed([FieldError("sprec", str(exc), given)]) from None
        implied_biofluid = implied.pop("biofluid", None)
        if implied_biofluid and implied_biofluid != biofluid:
            raise ValidationFailed(
                [
                    FieldError(
                        "sprec",
                        f"code type is {implied_biofluid} but biofluid is {biofluid}",
                        given,
                    )
                ]
            )
        for key, value in implied.items():
            if key in values and values.get(key) is None:
                values[key] = value
        handling = handling_of(values, biofluid)
        problems = sprec_rules.conflicts(code, handling)
        if problems:
            raise ValidationFailed([FieldError("sprec", "; ".join(problems), given)])
        return sprec_rules.reconcile_sprec(code, handling)
    return sprec_rules.derive_sprec(handling_of(values, biofluid))


# -- the rules of a new tube, shared by register/insert_sample and the bulk import ------------
# (docs/bulk-imports.md): each takes what was looked up, however it was looked up.


@dataclass
class NewTube:
    """A new tube's derived fields: pre-analytics (inherited from a parent where not given),
    the SPREC code to reconcile (``given_sprec``) and then derived (``sprec``), its freeze-thaw
    count and status."""

    input: SampleIn
    values: dict[str, Any]
    given_sprec: str | None
    freeze_thaw: int
    status: str
    sprec: str | None = None


def no_parent(s: SampleIn) -> FieldError:
    return FieldError("parent_sample_id", f"no sample {s.parent_sample_id}", s.parent_sample_id)


def no_cell_source(s: SampleIn) -> FieldError:
    return FieldError("cell_source_id", f"no cell source {s.cell_source_id}", s.cell_source_id)


def no_subject(s: SampleIn) -> FieldError:
    return FieldError("subject_id", f"no subject {s.subject_id} in study {s.study}", s.subject_id)


def needs_cell_source(s: SampleIn) -> bool:
    """A tube (not an aliquot) that comes from a cell source rather than a subject."""
    return s.biofluid == "conditioned_medium" or bool(s.cell_source_id and not s.subject_id)


def aliquot_purpose(s: SampleIn) -> str:
    return f"aliquot {s.sample_id}"


# -- what an aliquot belongs to: its parent's (docs/lifecycle.md, "What an aliquot belongs to")

# The import columns that say what a tube belongs to, in the columns' order.
OWNER_FIELDS = ("study", "subject_id", "visit", "cell_source_id")

# A tube's (study, subject_id, visit, cell_source_id) as stored: the codes, the visit's label
# (a plain tuple: the bulk import keeps one for every tube it creates).
Owner = tuple[str | None, str | None, str | None, str | None]

_OWNER_OF = attrgetter(*OWNER_FIELDS)


def gives_owner(s: SampleIn) -> bool:
    """Whether the row names a study, subject, visit or cell source (an aliquot row that
    names none inherits them all, and needs no look-up of its parent's)."""
    return (
        s.subject_id is not None
        or s.visit is not None
        or s.study is not None
        or s.cell_source_id is not None
    )


#: Each tube's code and what it belongs to (its study, subject, visit label and cell source).
OWNER_QUERY = (
    select(Sample.sample_code, Study.code, Subject.subject_code, Visit.label, CellSource.code)
    .select_from(Sample)
    .outerjoin(Subject, Subject.id == Sample.subject_id)
    .outerjoin(Study, Study.id == Subject.study_id)
    .outerjoin(Visit, Visit.id == Sample.visit_id)
    .outerjoin(CellSource, CellSource.id == Sample.cell_source_id)
)


def stored_owner(tx: Tx, code: str) -> Owner:
    """What the stored tube ``code`` belongs to (:data:`Owner`); the bulk import reads the
    same for a chunk's parents at once, through the driver (services/bulk_records.py
    ``_owners_in``)."""
    _, study, subject, visit, cell = tx.session.execute(
        OWNER_QUERY.where(Sample.sample_code == code)
    ).one()
    return (study, subject, visit, cell)


def _owner_text(owner: Owner) -> str:
    study, subject, _, cell = owner
    if subject is not None:
        return f"it belongs to {subject}, study {study}"
    if cell is not None:
        return f"it comes from cell source {cell}"
    return "it has none"


def _owner_problem(field: str, parent_code: str, owner: Owner, given: str) -> FieldError:
    study, subject, visit, cell = owner
    of = f"an aliquot of {parent_code}"
    own = dict(zip(OWNER_FIELDS, owner, strict=True))[field]
    if own is None:
        word = {"study": "study", "subject_id": "subject", "visit": "visit"}.get(
            field, "cell source"
        )
        return FieldError(field, f"{of} has no {word} ({_owner_text(owner)}), not {given}", given)
    message = {
        "study": f"{of} belongs to study {study} ({subject}), not {given}",
        "subject_id": f"{of} belongs to {subject} (study {study}), not {given}",
        "visit": f"{of} is of visit {visit} ({subject}, study {study}), not {given}",
        "cell_source_id": f"{of} comes from cell source {cell}, not {given}",
    }[field]
    return FieldError(field, message, given)


def check_owner(s: SampleIn, parent_code: str, owner: Owner) -> None:
    """An aliquot belongs to its parent's study, subject, visit and cell source: its row may
    repeat them (an export writes them) or leave them empty, but a value that differs from
    the parent's is refused, each such field named. Values are compared as ``SampleIn``
    cleaned them (surrounding spaces dropped; letter case kept, as every id in exolab: a
    visit is the same when its label is the stored one)."""
    given_all = _OWNER_OF(s)
    if given_all == owner:  # (all four repeated: an export's row)
        return
    errors = [
        _owner_problem(field, parent_code, owner, given)
        for field, given, own in zip(OWNER_FIELDS, given_all, owner, strict=True)
        if given is not None and given != own
    ]
    if errors:
        raise ValidationFailed(errors)


def new_tube(s: SampleIn, parent: Any | None, owner_of: Callable[[Any], Owner]) -> NewTube:
    """An aliquot (``parent`` given: a stored Sample or any object with its columns) must be
    of the parent's biofluid, belongs to its study, subject, visit and cell source
    (:func:`check_owner`; ``owner_of(parent)`` gives the parent's, asked only when the row
    names one of them) and inherits its pre-analytics, the SPREC elements its handling fixed
    and its freeze-thaw count, where the row does not give them (docs/lifecycle.md)."""
    values = handling_values(s)
    freeze_thaw = s.freeze_thaw_count or 0
    given_sprec = s.sprec
    if parent is not None:
        if parent.biofluid != s.biofluid:
            raise ValidationFailed(
                [
                    FieldError(
                        "biofluid",
                        f"an aliquot of {parent.sample_code} must be {parent.biofluid}",
                        s.biofluid,
                    )
                ]
            )
        if gives_owner(s):
            check_owner(s, parent.sample_code, owner_of(parent))
        if values["tube"] is not None and parent.tube and values["tube"] != parent.tube:
            # the primary (collection) tube is the parent's; an aliquot's own container is
            # its storage_container (docs/lifecycle.md, "SPREC of aliquots")
            raise ValidationFailed(
                [
                    FieldError(
                        "tube",
                        f"an aliquot of {parent.sample_code} is of its parent's primary tube "
                        f"{parent.tube}, not {values['tube']}",
                        values["tube"],
                    )
                ]
            )
        for f in HANDLING_FIELDS:
            if values[f] is None:
                values[f] = getattr(parent, f)
        if not given_sprec and parent.sprec:
            # what the parent's handling fixed is inherited; what the aliquot records itself
            # (its storage) is derived from its own fields
            given_sprec = sprec_rules.inherited_sprec(parent.sprec)
        if s.freeze_thaw_count is None:
            freeze_thaw = parent.freeze_thaw_count
    return NewTube(s, values, given_sprec, freeze_thaw, s.status or "available")


# The fields resolve_sprec reads (through handling_of) and may fill from a given code.
SPREC_FIELDS = tuple(f.name for f in dataclass_fields(sprec_rules.SampleHandling))[1:]
_SPREC_VALUES = itemgetter(*SPREC_FIELDS)
_HANDLING_OF = itemgetter(*HANDLING_FIELDS)


def handling_values(s: SampleIn) -> dict[str, Any]:
    """The tube's handling fields as given (a new dict), read from the model's own fields
    (its ``__dict__``: a bulk import reads them for every tube)."""
    return dict(zip(HANDLING_FIELDS, _HANDLING_OF(vars(s)), strict=False))  # (as many)


class SprecMemo:
    """:func:`resolve_sprec` remembered per distinct (biofluid, given code, handling): the
    bulk import derives the code once for the many tubes a file handles alike. Only results
    are kept (a refusal is derived again, so it names its row's value)."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self.memo: dict[tuple[Any, ...], tuple[str, tuple[Any, ...] | None]] = {}

    def __call__(self, values: dict[str, Any], biofluid: str, given: str | None) -> str:
        handling = _SPREC_VALUES(values)
        key = (biofluid, given, *handling)
        hit = self.memo.get(key)
        if hit is None:
            code = resolve_sprec(values, biofluid, given)
            if len(self.memo) < self.limit:
                after = _SPREC_VALUES(values)  # (a given code may fill fields)
                self.memo[key] = (code, None if after == handling else after)
            return code
        if hit[1] is not None:
            values.update(zip(SPREC_FIELDS, hit[1], strict=True))
        return hit[0]


def finish_tube(
    tube: NewTube, resolve: Callable[[dict[str, Any], str, str | None], str] | None = None
) -> None:
    """Derive the SPREC code (filling ``values`` from a given code; ``resolve`` is
    :func:`resolve_sprec` or a :class:`SprecMemo` of it) and refuse a storage location on a
    tube whose status keeps it out of storage."""
    s = tube.input
    tube.sprec = (resolve or resolve_sprec)(tube.values, s.biofluid, tube.given_sprec)
    if s.location is not None and tube.status in lifecycle.OUT_OF_STORAGE:
        raise ValidationFailed(
            [
                FieldError(
                    "location", f"a {tube.status} tube has no storage location", str(s.location)
                )
            ]
        )


def register_sample(
    tx: Tx,
    data: SampleIn | dict[str, Any],
    batch_id: int | None = None,
    *,
    create_locations: bool = False,
    override_reason: str | None = None,
) -> SampleOut:
    """Register a tube. An aliquot (``parent_sample_id``) belongs to its parent's study,
    subject, visit and cell source (given, they must be the parent's: :func:`check_owner`),
    inherits its pre-analytics and freeze-thaw count (its own values, when given, win) and
    takes its volume out of the parent (docs/lifecycle.md)."""
    code = insert_sample(
        tx, data, batch_id, create_locations=create_locations, override_reason=override_reason
    )
    return get_sample(tx, code)


def insert_sample(
    tx: Tx,
    data: SampleIn | dict[str, Any],
    batch_id: int | None = None,
    *,
    create_locations: bool = False,
    override_reason: str | None = None,
) -> str:
    """:func:`register_sample` without reading the new tube's view back (the importer's
    row-by-row path, which does not show it): returns the sample id."""
    tx.require_write("register samples")
    s = validate(SampleIn, data)
    if find_sample(tx, s.sample_id) is not None:
        raise Conflict(f"sample {s.sample_id} already exists")
    subject_id = visit_id = cell_source_id = parent_id = None
    parent = None
    if s.parent_sample_id:
        parent = find_sample(tx, s.parent_sample_id)
        if parent is None:
            raise ValidationFailed([no_parent(s)])
    tube = new_tube(s, parent, lambda p: stored_owner(tx, p.sample_code))
    if parent is not None:
        lifecycle.check_allowed(
            tx,
            parent,
            lifecycle.ACTIONS["aliquot"],
            override_reason=override_reason,
            field="parent_sample_id",
            history=batch_id is not None,  # (an import's row)
        )
        parent_id = parent.id
        subject_id, visit_id, cell_source_id = (
            parent.subject_id,
            parent.visit_id,
            parent.cell_source_id,
        )
        lifecycle.take_volume(
            tx,
            parent,
            s.volume_ml,
            field="volume_ml",
            purpose=aliquot_purpose(s),
            batch_id=batch_id,
        )
    elif needs_cell_source(s):
        cell = tx.session.scalar(select(CellSource).where(CellSource.code == s.cell_source_id))
        if cell is None:
            raise ValidationFailed([no_cell_source(s)])
        cell_source_id = cell.id
    if not s.parent_sample_id and s.subject_id:
        assert s.study is not None and s.visit is not None
        subject = find_subject(tx, s.study, s.subject_id)
        if subject is None:
            raise ValidationFailed([no_subject(s)])
        subject_id = subject.id
        visit_id = get_or_create_visit(tx, subject, s.visit, s.collected_at.date()).id
    finish_tube(tube)
    values, code, status, freeze_thaw = tube.values, tube.sprec, tube.status, tube.freeze_thaw
    box_id = position = None
    if s.location is not None:
        box, position = resolve_location(tx, s.location, create=create_locations)
        box_id = box.id
    sample = Sample(
        sample_code=s.sample_id,
        biofluid=s.biofluid,
        collected_at=s.collected_at,
        subject_id=subject_id,
        visit_id=visit_id,
        cell_source_id=cell_source_id,
        parent_id=parent_id,
        volume_ml=s.volume_ml,
        sprec=code,
        box_id=box_id,
        position=position,
        freeze_thaw_count=freeze_thaw,
        status=status,
        notes=s.notes,
        created_by=tx.actor.name,
        batch_id=batch_id,
        **values,
    )
    tx.session.add(sample)
    tx.session.flush()
    tx.audit("create", "sample", s.sample_id, new=column_values(sample), batch_id=batch_id)
    return s.sample_id


def update_sample(
    tx: Tx,
    code: str,
    changes: dict[str, Any],
    *,
    reason: str | None,
    expected_version: int | None = None,
    batch_id: int | None = None,
    create_locations: bool = False,
) -> SampleOut:
    """Edit a sample's recorded fields (not its id, parent, study, subject, visit or cell
    source: an aliquot's are its parent's, :func:`check_owner`); SPREC is re-derived.

    A status change follows the life-cycle (docs/lifecycle.md): the same effects as the
    action (a status that takes the tube out of storage frees its position), and a change no
    action makes (e.g. discarded -> available) needs an admin (the edit's reason is the
    override's)."""
    tx.require_write("edit samples")
    reason = require_reason(reason, "edit a sample")
    sample = _require(tx, code)
    check_version("sample", code, sample.version, expected_version)
    edit_sample(
        tx,
        sample,
        get_sample(tx, code),
        changes,
        reason=reason,
        batch_id=batch_id,
        create_locations=create_locations,
    )
    return get_sample(tx, code)


def edit_sample(
    tx: Tx,
    sample: Sample,
    current: SampleOut,
    changes: dict[str, Any],
    *,
    reason: str,
    batch_id: int | None = None,
    create_locations: bool = False,
    positions: PositionView | None = None,
    events: list[Any] | None = None,
    checked: SampleIn | None = None,
) -> None:
    """The rules of an edit (:func:`update_sample`'s), on the stored tube ``sample`` and
    ``current``, what :func:`get_sample` gives of it. An update import of many tubes
    (docs/bulk-imports.md) calls this with the tubes it read for a chunk, the chunk's
    ``positions`` (:class:`storage.PositionView`), ``events`` (the audit events, appended
    together after the chunk is flushed: :func:`audit_update`) and ``checked``: the row it
    validated already, the stored tube with the row's cells over it (equal to ``current``
    with ``changes`` over it in every column)."""
    code = sample.sample_code
    locked = {"sample_id", "parent_sample_id"}
    if current.parent_sample_id is None:  # (an aliquot's are its parent's: check_owner below)
        locked.update(OWNER_FIELDS)
    bad = sorted(set(changes) & locked)
    if bad and any(changes[k] != getattr(current, k) for k in bad):
        raise ValidationFailed([FieldError(bad[0], "cannot be changed by an edit")])
    s = checked if checked is not None else validate(SampleIn, current.as_input() | changes)
    if current.parent_sample_id is not None:  # (its owner is its parent's, as stored)
        check_owner(s, current.parent_sample_id, _OWNER_OF(current))
    if s.biofluid != sample.biofluid:
        _check_tree_biofluid(tx, sample, s.biofluid)
    values = handling_values(s)
    sprec_given = changes.get("sprec") or None
    new_code = resolve_sprec(values, s.biofluid, sprec_given)
    old_all = column_values(sample)
    for f, v in values.items():
        setattr(sample, f, v)
    sample.biofluid = s.biofluid
    sample.collected_at = s.collected_at
    if "volume_ml" in changes:  # the registered volume (as the import column)
        taken = sample.volume_taken_ml or 0.0
        if s.volume_ml is not None and s.volume_ml + 1e-9 < taken:
            raise ValidationFailed(
                [
                    FieldError(
                        "volume_ml",
                        f"isolations and aliquots already took {taken:g} mL from {code}",
                        f"{s.volume_ml:g}",
                    )
                ]
            )
        if sample.parent_id is not None and s.volume_ml is not None:
            # an aliquot's registered volume is what it took from its parent: a correction
            # takes or gives back the difference, as an isolation's input volume does
            registered = 0.0 if old_all["volume_ml"] is None else old_all["volume_ml"] + taken
            parent = tx.session.get(Sample, sample.parent_id)
            assert parent is not None
            lifecycle.take_volume(
                tx,
                parent,
                round(s.volume_ml - registered, 6) or None,
                field="volume_ml",
                purpose=aliquot_purpose(s),
                batch_id=batch_id,
            )
        sample.volume_ml = None if s.volume_ml is None else round(s.volume_ml - taken, 6)
    sample.sprec = new_code
    sample.freeze_thaw_count = s.freeze_thaw_count or 0
    sample.notes = s.notes
    new_status = s.status or sample.status
    if new_status != sample.status:
        action = lifecycle.transition(sample.status, new_status)
        if action is None:
            lifecycle.check_allowed(
                tx,
                sample,
                lifecycle.action_for(new_status),
                # an admin's edit reason is the override's; others are told the rule
                override_reason=reason if tx.actor.is_admin else None,
                to_status=new_status,
                field="status",  # (an import reports it in the status column)
            )
    if "location" in changes and s.location is not None:
        if new_status in lifecycle.OUT_OF_STORAGE:
            raise ValidationFailed(
                [
                    FieldError(
                        "location", f"a {new_status} tube has no storage location", str(s.location)
                    )
                ]
            )
        _place(tx, sample, s.location, create=create_locations, positions=positions)
    elif "location" in changes:
        _place(tx, sample, None)
    lifecycle.apply_status(sample, new_status)
    audit_update(
        tx, sample, "sample", code, old_all, reason=reason, batch_id=batch_id, events=events
    )


def _check_tree_biofluid(tx: Tx, sample: Sample, biofluid: str) -> None:
    """An aliquot is of its parent's biofluid (:func:`new_tube`): an edit may not change the
    biofluid of an aliquot, nor of a tube that has aliquots."""
    if sample.parent_id is not None:
        parent = tx.session.get(Sample, sample.parent_id)
        assert parent is not None
        raise ValidationFailed(
            [
                FieldError(
                    "biofluid",
                    f"an aliquot of {parent.sample_code} must be {parent.biofluid}",
                    biofluid,
                )
            ]
        )
    child = tx.session.scalar(
        select(Sample.sample_code).where(Sample.parent_id == sample.id).limit(1)
    )
    if child is not None:
        raise ValidationFailed(
            [
                FieldError(
                    "biofluid",
                    f"{sample.sample_code} has aliquots of {sample.biofluid} (e.g. {child}): "
                    "its biofluid cannot be changed by an edit",
                    biofluid,
                )
            ]
        )


def _place(
    tx: Tx,
    sample: Sample,
    loc: Location | None,
    *,
    create: bool = False,
    positions: PositionView | None = None,
) -> None:
    if loc is None:
        sample.box_id, sample.position = None, None
        return
    box, position = resolve_location(
        tx, loc, for_sample=sample.sample_code, create=create, view=positions
    )
    sample.box_id, sample.position = box.id, position


def move_sample(
    tx: Tx,
    code: str,
    location: str | None,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
    override_reason: str | None = None,
) -> SampleOut:
    """Put a tube at FREEZER/RACK/BOX/POSITION (or take it out of storage with ``None``).
    The box must exist (docs/lifecycle.md); a tube out of the lab cannot be moved. A move to
    where the tube already is changes nothing and records nothing."""
    tx.require_write("move samples")
    sample = _require(tx, code)
    check_version("sample", code, sample.version, expected_version)
    lifecycle.check_allowed(tx, sample, lifecycle.ACTIONS["move"], override_reason=override_reason)
    try:
        loc = parse_location(location) if location else None
    except ValueError as exc:
        raise ValidationFailed([FieldError("location", str(exc), location)]) from None
    if loc is not None and sample.status in lifecycle.OUT_OF_STORAGE:
        # not even by an override: such a tube holds no position (as at registration)
        raise ValidationFailed(
            [FieldError("location", f"a {sample.status} tube has no storage location", location)]
        )
    old = get_sample(tx, code).location
    was = (sample.box_id, sample.position)
    _place(tx, sample, loc)
    if (sample.box_id, sample.position) == was:
        return get_sample(tx, code)  # already there: no move to record
    touch(sample, tx.actor.name)
    tx.session.flush()
    new = get_sample(tx, code).location
    tx.audit(
        "move",
        "sample",
        code,
        old={"location": old},
        new={"location": new},
        reason=reason or "moved",
    )
    return get_sample(tx, code)


def set_status(
    tx: Tx,
    code: str,
    status: str,
    *,
    reason: str | None,
    expected_version: int | None = None,
    volume_used_ml: float | None = None,
    location: str | None = None,
    override: bool = False,
) -> SampleOut:
    """Check out, return, consume, discard, ship or lose a tube (``status`` is the action or
    the status it leaves). The life-cycle decides what each status allows; ``override``
    (admin only, the reason is recorded) does what it refuses. Checking out a frozen tube
    counts a thaw; consumed/discarded/shipped tubes free their position; ``location`` puts a
    returned tube somewhere else than its old position (docs/lifecycle.md)."""
    tx.require_write("change sample status")
    return _change_status(
        tx,
        code,
        lifecycle.action_for(status),
        reason=reason,
        expected_version=expected_version,
        volume_used_ml=volume_used_ml,
        location=location,
        override=override,
    )


def receive_back(tx: Tx, code: str, *, reason: str) -> SampleOut:
    """A shipped tube is back in the lab (``available``, out of storage until placed): only
    :func:`exolab.services.shipments.receive_shipment` calls this, so the shipment records
    what came back (docs/lifecycle.md)."""
    tx.require_write("receive samples")
    return _change_status(tx, code, lifecycle.ACTIONS["receive"], reason=reason)


def _change_status(
    tx: Tx,
    code: str,
    action: lifecycle.Action,
    *,
    reason: str | None,
    expected_version: int | None = None,
    volume_used_ml: float | None = None,
    location: str | None = None,
    override: bool = False,
) -> SampleOut:
    assert action.leaves is not None
    reason = require_reason(reason, f"{action.words} a sample")
    sample = _require(tx, code)
    check_version("sample", code, sample.version, expected_version)
    if location is not None and action.name != "return":
        raise ValidationFailed(
            [FieldError("location", f"a location goes with a return, not with {action.words}")]
        )
    before = get_sample(tx, code)
    if volume_used_ml is not None and (
        not math.isfinite(volume_used_ml) or volume_used_ml < 0
    ):  # docs/reliability.md
        raise ValidationFailed(
            [FieldError("volume_used_ml", "must be a finite number >= 0", str(volume_used_ml))]
        )
    lifecycle.check_allowed(
        tx, sample, action, override_reason=reason if override else None, to_status=action.leaves
    )
    lifecycle.use_volume(tx, sample, volume_used_ml, purpose=f"{action.words} of {code}")
    if location is not None:
        try:
            loc = parse_location(location)
        except ValueError as exc:
            raise ValidationFailed([FieldError("location", str(exc), location)]) from None
        _place(tx, sample, loc)
    lifecycle.apply_status(sample, action.leaves)
    touch(sample, tx.actor.name)
    tx.session.flush()
    after = get_sample(tx, code)
    old, new = diff(before.model_dump(), after.model_dump())
    new.pop("version", None)
    old.pop("version", None)
    tx.audit("status", "sample", code, old=old, new=new, reason=reason)
    return after


def aliquot(
    tx: Tx,
    parent_code: str,
    children: list[tuple[str, str | None, float | None]],
    *,
    reason: str | None = "aliquoted",
    expected_version: int | None = None,
    override: bool = False,
    storage_container: str | None = None,
    storage_temp_c: float | None = None,
) -> list[SampleOut]:
    """Split a parent: each child is (sample_id, location or None, volume_ml).

    A parent frozen in storage is thawed for it (freeze-thaw +1); a fresh or checked-out
    parent is not. The children start with the parent's count at that moment and inherit
    everything else from it, except what they record themselves (``storage_container``,
    ``storage_temp_c``). Each child's volume is taken from the parent, never below zero; a
    parent that is not active is refused unless ``override`` (admin, with the reason)."""
    tx.require_write("aliquot samples")
    parent = _require(tx, parent_code)
    check_version("sample", parent_code, parent.version, expected_version)
    override_reason = require_reason(reason, "override") if override else None
    lifecycle.check_allowed(
        tx, parent, lifecycle.ACTIONS["aliquot"], override_reason=override_reason
    )
    if not children:
        raise ValidationFailed([FieldError("children", "give at least one aliquot")])
    codes = [c for c, _, _ in children]
    if len(set(codes)) != len(codes):
        raise ValidationFailed([FieldError("sample_id", "aliquot ids repeat")])
    for _, _, v in children:
        if v is not None and (not math.isfinite(v) or v < 0):  # docs/reliability.md
            raise ValidationFailed(
                [FieldError("volume_ml", "must be a finite number >= 0", str(v))]
            )
    taken = sum(v for _, _, v in children if v)
    if parent.volume_ml is not None and taken > parent.volume_ml + 1e-9:
        raise ValidationFailed(
            [
                FieldError(
                    "volume_ml",
                    f"aliquots take {taken:g} mL but {parent_code} has only "
                    f"{parent.volume_ml:g} mL left",
                )
            ]
        )
    old = {"freeze_thaw_count": parent.freeze_thaw_count, "volume_ml": parent.volume_ml}
    lifecycle.thaw(parent)
    touch(parent, tx.actor.name)
    tx.session.flush()
    tx.audit(
        "aliquot",
        "sample",
        parent_code,
        old=old,
        new={
            "freeze_thaw_count": parent.freeze_thaw_count,
            "volume_ml": round(parent.volume_ml - taken, 6)
            if parent.volume_ml is not None
            else None,
            "children": codes,
        },
        reason=reason,
    )
    out = []
    for code, location, volume in children:
        out.append(
            register_sample(
                tx,
                {
                    "sample_id": code,
                    "biofluid": parent.biofluid,
                    "collected_at": parent.collected_at,
                    "parent_sample_id": parent_code,
                    "volume_ml": volume,
                    "location": location,
                    "freeze_thaw_count": parent.freeze_thaw_count,
                    "storage_container": storage_container,
                    "storage_temp_c": storage_temp_c,
                },
                override_reason=override_reason,
            )
        )
    return out


def aliquot_tree(tx: Tx, code: str) -> list[tuple[int, SampleOut]]:
    """The sample's root ancestor and every descendant, depth-first, as (depth, sample)."""
    sample = _require(tx, code)
    root = sample
    while root.parent_id is not None:
        nxt = tx.session.get(Sample, root.parent_id)
        assert nxt is not None
        root = nxt
    # One query per generation, then one for all the rows shown.
    children: dict[int | None, list[tuple[str, int]]] = {}
    level = [root.id]
    while level:
        rows = tx.session.execute(
            select(Sample.parent_id, Sample.sample_code, Sample.id).where(
                Sample.parent_id.in_(level)
            )
        ).all()
        for parent_id, kid_code, kid_id in rows:
            children.setdefault(parent_id, []).append((kid_code, kid_id))
        level = [kid_id for _, _, kid_id in rows]
    order: list[tuple[int, int]] = []

    def walk(node_id: int, depth: int) -> None:
        order.append((depth, node_id))
        for _, kid_id in sorted(children.get(node_id, [])):
            walk(kid_id, depth + 1)

    walk(root.id, 0)
    by_id = {s.id: s for s in samples_by_id(tx, [node_id for _, node_id in order])}
    return [(depth, by_id[node_id]) for depth, node_id in order]


def delete_sample(tx: Tx, code: str, *, reason: str | None) -> None:
    """Delete a wrongly registered tube (one with no aliquots, isolations or readouts)."""
    from exolab.db.models import Isolation, Readout

    tx.require_write("delete samples")
    reason = require_reason(reason, "delete a sample")
    sample = _require(tx, code)
    for model, col, what in (
        (Sample, Sample.parent_id, "aliquots"),
        (Isolation, Isolation.sample_id, "isolations"),
        (Readout, Readout.sample_id, "readouts"),
    ):
        if tx.session.scalar(select(model.id).where(col == sample.id).limit(1)) is not None:
            raise Conflict(f"sample {code} has {what}; it cannot be deleted")
    old = column_values(sample)
    tx.session.delete(sample)
    tx.session.flush()
    tx.audit("delete", "sample", code, old=old, reason=reason)


def first_collection(tx: Tx, subject_pk: int) -> date | None:
    from sqlalchemy import func

    value = tx.session.scalar(
        select(func.min(Sample.collected_at)).where(Sample.subject_id == subject_pk)
    )
    return value.date() if value else None
