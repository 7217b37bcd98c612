"""Isolations (EV preparations) with ordered method steps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from operator import itemgetter
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from exolab.db.models import Isolation, IsolationStep, Sample
from exolab.domain.schemas import STEP_PARAM_COLUMNS, IsolationIn, StepIn
from exolab.services import lifecycle
from exolab.services.common import (
    IN_LIST,
    audit_update,
    check_version,
    column_values,
    require_reason,
    validate,
)
from exolab.services.context import Tx
from exolab.services.errors import Conflict, FieldError, NotFound, ValidationFailed

SIMPLE_FIELDS = (
    "isolated_on",
    "input_volume_ml",
    "kit",
    "kit_lot",
    "final_volume_ul",
    "resuspension_buffer",
    "operator",
    "notes",
)


class IsolationOut(BaseModel):
    id: int
    isolation_id: str
    sample_id: str
    isolated_on: date
    method: str
    steps: list[StepIn]
    input_volume_ml: float
    kit: str | None
    kit_lot: str | None
    final_volume_ul: float | None
    resuspension_buffer: str | None
    operator: str | None
    notes: str | None
    version: int

    def as_input(self) -> dict[str, Any]:
        """Import-column form (:func:`isolation_input`)."""
        fields = {f: getattr(self, f) for f in _INPUT_FIELDS}
        return isolation_input(fields, [(step.method, step.params) for step in self.steps])


# The fields of IsolationOut an isolation's import columns take as they are.
_INPUT_FIELDS = ("isolation_id", "sample_id", "method", *SIMPLE_FIELDS)
# Every step parameter column, blank unless a step gives it.
_STEP_COLUMNS = tuple(col for cols in STEP_PARAM_COLUMNS.values() for col in cols.values())


def isolation_input(
    fields: dict[str, Any], steps: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """The import-column form of an isolation: ``fields`` (its IsolationOut fields named in
    ``_INPUT_FIELDS``) with the parameters of its ``steps`` ((method, parameters) in step
    order) back in their uc_/sec_/... columns, the first step's value where two give one."""
    row: dict[str, Any] = {
        "isolation_id": fields["isolation_id"],
        "sample_id": fields["sample_id"],
        "isolated_on": fields["isolated_on"],
        "method": fields["method"],
        "input_volume_ml": fields["input_volume_ml"],
        "kit": fields["kit"],
        "kit_lot": fields["kit_lot"],
    }
    row.update(dict.fromkeys(_STEP_COLUMNS))
    for method, params in steps:
        for param, col in STEP_PARAM_COLUMNS.get(method, {}).items():
            if param in params and row[col] is None:
                row[col] = params[param]
    row["final_volume_ul"] = fields["final_volume_ul"]
    row["resuspension_buffer"] = fields["resuspension_buffer"]
    row["operator"] = fields["operator"]
    row["notes"] = fields["notes"]
    return row


_INPUT_QUERY = select(
    Isolation.id,
    Isolation.isolation_code,
    Sample.sample_code,
    Isolation.method,
    *(getattr(Isolation, f) for f in SIMPLE_FIELDS),
).join(Sample, Sample.id == Isolation.sample_id)


def iter_isolation_inputs(tx: Tx, page: int) -> Iterator[dict[str, Any]]:
    """Every isolation in the order they were added, in its import-column form (what
    :meth:`IsolationOut.as_input` gives), ``page`` isolations and their steps at a time
    (two queries a page, keyed by id), read as plain rows: the export of a biobank's
    isolations builds no entity or model per isolation. The values are the stored ones,
    which IsolationOut takes unchanged."""
    after = 0
    while True:
        rows = tx.session.execute(
            _INPUT_QUERY.where(Isolation.id > after).order_by(Isolation.id).limit(page)
        ).all()
        if not rows:
            return
        steps = _steps_of(tx, [r[0] for r in rows])
        for r in rows:
            fields = dict(zip(_INPUT_FIELDS, r[1:], strict=True))
            yield isolation_input(fields, steps[r[0]])
        after = rows[-1][0]


def _steps_of(tx: Tx, isolation_pks: list[int]) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    """(method, parameters) of each isolation's steps, in step order, in one query."""
    steps: dict[int, list[tuple[str, dict[str, Any]]]] = {pk: [] for pk in isolation_pks}
    for iso_pk, method, params in tx.session.execute(
        select(IsolationStep.isolation_id, IsolationStep.method, IsolationStep.params)
        .where(IsolationStep.isolation_id.in_(isolation_pks))
        .order_by(IsolationStep.isolation_id, IsolationStep.step_no)
    ):
        steps[iso_pk].append((method, params or {}))
    return steps


def _step_models(steps: list[tuple[str, dict[str, Any]]]) -> list[StepIn]:
    return [StepIn(method=method, params=dict(params)) for method, params in steps]


def _out(
    tx: Tx, iso: Isolation, sample_code: str, steps: list[StepIn] | None = None
) -> IsolationOut:
    return IsolationOut(
        id=iso.id,
        isolation_id=iso.isolation_code,
        sample_id=sample_code,
        method=iso.method,
        steps=_step_models(_steps_of(tx, [iso.id])[iso.id]) if steps is None else steps,
        version=iso.version,
        **{f: getattr(iso, f) for f in SIMPLE_FIELDS},
    )


def find_isolation(tx: Tx, code: str) -> Isolation | None:
    return tx.session.scalar(select(Isolation).where(Isolation.isolation_code == code))


def get_isolation(tx: Tx, code: str) -> IsolationOut:
    row = tx.session.execute(
        select(Isolation, Sample.sample_code)
        .join(Sample, Sample.id == Isolation.sample_id)
        .where(Isolation.isolation_code == code)
    ).first()
    if row is None:
        raise NotFound(f"no isolation {code}")
    return _out(tx, row[0], row[1])


def isolations_by_code(tx: Tx, codes: list[str]) -> dict[str, IsolationOut]:
    """The stored isolations of these codes (those that exist), as :func:`get_isolation`
    gives each, their steps read in one query per part (the bulk import compares a file's
    stored rows with them)."""
    out: dict[str, IsolationOut] = {}
    for i in range(0, len(codes), IN_LIST):
        rows = tx.session.execute(
            select(Isolation, Sample.sample_code)
            .join(Sample, Sample.id == Isolation.sample_id)
            .where(Isolation.isolation_code.in_(codes[i : i + IN_LIST]))
        ).all()
        steps = _steps_of(tx, [iso.id for iso, _ in rows])
        for iso, sample_code in rows:
            out[iso.isolation_code] = _out(tx, iso, sample_code, _step_models(steps[iso.id]))
    return out


def isolations_of_sample(tx: Tx, sample_code: str) -> list[IsolationOut]:
    rows = tx.session.execute(
        select(Isolation, Sample.sample_code)
        .join(Sample, Sample.id == Isolation.sample_id)
        .where(Sample.sample_code == sample_code)
        .order_by(Isolation.isolated_on, Isolation.isolation_code)
    ).all()
    return [_out(tx, iso, code) for iso, code in rows]


# The rules of a new isolation shared with the bulk import (docs/bulk-imports.md).


def no_sample(d: IsolationIn) -> FieldError:
    return FieldError("sample_id", f"no sample {d.sample_id}", d.sample_id)


def isolation_purpose(d: IsolationIn) -> str:
    return f"isolation {d.isolation_id}"


_SIMPLE_VALUES = itemgetter(*SIMPLE_FIELDS)  # (of the model's own field dict)


def isolation_columns(d: IsolationIn) -> dict[str, Any]:
    """The stored columns an isolation takes from its input (besides its tube and batch)."""
    columns = dict(zip(SIMPLE_FIELDS, _SIMPLE_VALUES(vars(d)), strict=True))
    columns["isolation_code"] = d.isolation_id
    columns["method"] = "+".join(d.method)
    return columns


def record_isolation(
    tx: Tx,
    data: IsolationIn | dict[str, Any],
    batch_id: int | None = None,
    *,
    steps: list[StepIn] | None = None,
    override_reason: str | None = None,
) -> IsolationOut:
    """Record an EV preparation. ``steps`` may give per-step parameters directly (e.g. two
    ``duc`` steps with different g-forces); otherwise they come from the uc_/sec_/... fields.

    The tube's life-cycle applies (docs/lifecycle.md): an inactive tube is refused unless an
    admin overrides with ``override_reason``; the input volume is taken out of the tube
    (never below zero). The freeze-thaw count is the tube's check-outs' business, not the
    isolation's: an isolation recorded (or re-imported) changes no count."""
    tx.require_write("record isolations")
    d = validate(IsolationIn, data)
    if find_isolation(tx, d.isolation_id) is not None:
        raise Conflict(f"isolation {d.isolation_id} already exists")
    sample = tx.session.scalar(select(Sample).where(Sample.sample_code == d.sample_id))
    if sample is None:
        raise ValidationFailed([no_sample(d)])
    chain = steps if steps is not None else d.steps()
    if [s.method for s in chain] != d.method:
        raise ValidationFailed([FieldError("method", "steps do not match the method chain")])
    lifecycle.check_allowed(
        tx,
        sample,
        lifecycle.ACTIONS["isolate"],
        override_reason=override_reason,
        history=batch_id is not None,  # (an import's row)
    )
    lifecycle.take_volume(
        tx,
        sample,
        d.input_volume_ml,
        field="input_volume_ml",
        purpose=isolation_purpose(d),
        batch_id=batch_id,
    )
    iso = Isolation(
        sample_id=sample.id, created_by=tx.actor.name, batch_id=batch_id, **isolation_columns(d)
    )
    tx.session.add(iso)
    tx.session.flush()
    for i, step in enumerate(chain, start=1):
        tx.session.add(
            IsolationStep(isolation_id=iso.id, step_no=i, method=step.method, params=step.params)
        )
    tx.session.flush()
    out = _out(tx, iso, sample.sample_code)
    tx.audit(
        "create",
        "isolation",
        d.isolation_id,
        new=column_values(iso) | {"steps": [s.model_dump() for s in out.steps]},
        batch_id=batch_id,
    )
    return out


def update_isolation(
    tx: Tx,
    code: str,
    changes: dict[str, Any],
    *,
    reason: str | None,
    expected_version: int | None = None,
    batch_id: int | None = None,
) -> IsolationOut:
    tx.require_write("edit isolations")
    reason = require_reason(reason, "edit an isolation")
    current = get_isolation(tx, code)
    iso = find_isolation(tx, code)
    assert iso is not None
    check_version("isolation", code, iso.version, expected_version)
    edit_isolation(tx, iso, current, changes, reason=reason, batch_id=batch_id)
    return get_isolation(tx, code)


def edit_isolation(
    tx: Tx,
    iso: Isolation,
    current: IsolationOut,
    changes: dict[str, Any],
    *,
    reason: str,
    batch_id: int | None = None,
    events: list[Any] | None = None,
    checked: IsolationIn | None = None,
) -> None:
    """The rules of an edit (:func:`update_isolation`'s), on the stored isolation ``iso`` and
    ``current``, what :func:`get_isolation` gives of it. An update import of many
    (docs/bulk-imports.md) calls this with the isolations it read for a chunk, ``events``
    (its audit events, appended together after the chunk is flushed: ``audit_update``) and
    ``checked``, the row it validated already (``current`` with the row's cells over it).
    Its steps are written again only when they change."""
    code = iso.isolation_code
    if "sample_id" in changes and changes["sample_id"] != current.sample_id:
        raise ValidationFailed([FieldError("sample_id", "cannot be changed by an edit")])
    d = checked or validate(IsolationIn, current.as_input() | changes | {"isolation_id": code})
    old_steps = [s.model_dump() for s in current.steps]
    old_all = column_values(iso) | {"steps": old_steps}
    if d.input_volume_ml != iso.input_volume_ml:
        sample = tx.session.get(Sample, iso.sample_id)
        assert sample is not None
        lifecycle.take_volume(
            tx,
            sample,
            d.input_volume_ml - iso.input_volume_ml,
            field="input_volume_ml",
            purpose=f"isolation {code}",
            batch_id=batch_id,
        )
    for f in SIMPLE_FIELDS:
        setattr(iso, f, getattr(d, f))
    iso.method = "+".join(d.method)
    new_steps = d.steps()
    new_dumped = [s.model_dump() for s in new_steps]
    if new_dumped != old_steps:
        for old_step in tx.session.scalars(
            select(IsolationStep).where(IsolationStep.isolation_id == iso.id)
        ):
            tx.session.delete(old_step)
        tx.session.flush()
        for i, step in enumerate(new_steps, start=1):
            tx.session.add(
                IsolationStep(
                    isolation_id=iso.id, step_no=i, method=step.method, params=step.params
                )
            )
        tx.session.flush()
    audit_update(
        tx,
        iso,
        "isolation",
        code,
        old_all,
        reason=reason,
        batch_id=batch_id,
        extra={"steps": new_dumped},
        events=events,
    )


def isolation_records(tx: Tx, codes: list[str]) -> dict[str, Isolation]:
    """The stored isolations of these codes (those that exist), as the records an edit
    changes (:func:`edit_isolation`): a few queries for many."""
    out: dict[str, Isolation] = {}
    for i in range(0, len(codes), IN_LIST):
        for iso in tx.session.scalars(
            select(Isolation).where(Isolation.isolation_code.in_(codes[i : i + IN_LIST]))
        ):
            out[iso.isolation_code] = iso
    return out
