"""Undo of an import batch: remove exactly what it created, put back what it updated
(docs/import-formats.md, docs/architecture.md).

Undo is refused, naming the events, when anyone changed a record of the batch afterwards
(:func:`later_changes`), and refused when records outside the batch depend on records it
created. Deletes run child tables first (readouts, isolation steps, isolations, samples,
visits left empty, subjects, cell sources, instrument runs, assay runs, analytes, studies
left empty); ``readout_sets`` is kept current. The batch is then marked undone
(:mod:`exolab.services.batches`) and one ``undo`` audit event written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, func, select

from exolab.db.base import utcnow
from exolab.db.models import (
    Analyte,
    AssayRun,
    AuditEvent,
    Box,
    CellSource,
    InstrumentRun,
    Isolation,
    IsolationStep,
    Readout,
    Sample,
    Study,
    Subject,
    Visit,
)
from exolab.domain import readout_rules
from exolab.services import batches, isolations, readout_sets, samples, subjects
from exolab.services.audit import records_created_by
from exolab.services.context import Lab, Tx
from exolab.services.errors import Conflict

T = TypeVar("T")


@dataclass
class UndoReport:
    batch_id: int
    kind: str
    file_name: str
    removed: dict[str, int]
    restored: int


def _ids(tx: Tx, model: Any, batch_id: int) -> list[int]:
    return list(tx.session.scalars(select(model.id).where(model.batch_id == batch_id)))


def _chunks(ids: list[T], n: int = 500) -> list[list[T]]:
    return [ids[i : i + n] for i in range(0, len(ids), n)]


def _count_where(tx: Tx, model: Any, col: Any, ids: list[Any], batch_id: int) -> tuple[int, Any]:
    """How many rows outside the batch reference ``ids`` through ``col``; one example."""
    total = 0
    example = None
    for part in _chunks(ids):
        cond = (col.in_(part)) & ((model.batch_id.is_(None)) | (model.batch_id != batch_id))
        total += tx.session.scalar(select(func.count()).select_from(model).where(cond)) or 0
        if example is None:
            example = tx.session.execute(select(model.batch_id).where(cond).limit(1)).first()
    return total, example


def _refuse_if(tx: Tx, what: str, model: Any, col: Any, ids: list[Any], batch_id: int) -> None:
    if not ids:
        return
    n, example = _count_where(tx, model, col, ids, batch_id)
    if n:
        src = (
            f"import batch {example[0]}"
            if example is not None and example[0]
            else "records added by hand"
        )
        raise Conflict(
            f"cannot undo import batch {batch_id}: {n:,} {what} depend on records it created "
            f"(e.g. from {src}); undo or delete those first"
        )


def _created_by_audit(tx: Tx, entity: str, batch_id: int) -> list[str]:
    return list(
        tx.session.scalars(
            select(AuditEvent.entity_id).where(
                AuditEvent.batch_id == batch_id,
                AuditEvent.entity == entity,
                AuditEvent.action == "create",
            )
        )
    )


def _coerce(model: Any, key: str, value: Any) -> Any:
    from sqlalchemy import Date, DateTime

    col = model.__table__.c.get(key)
    if col is None or value is None or not isinstance(value, str):
        return value
    if isinstance(col.type, DateTime):
        return datetime.fromisoformat(value)
    if isinstance(col.type, Date):
        return date.fromisoformat(value)
    return value


def _record_for(tx: Tx, entity: str, entity_id: str) -> Any:
    if entity == "subject":
        study, _, code = entity_id.partition("/")
        return subjects.find_subject(tx, study, code)
    if entity == "sample":
        return samples.find_sample(tx, entity_id)
    if entity == "isolation":
        return isolations.find_isolation(tx, entity_id)
    if entity == "cell_source":
        return tx.session.scalar(select(CellSource).where(CellSource.code == entity_id))
    if entity == "readout":
        target, analyte, assay, run, rep = readout_rules.parse_key_text(entity_id)
        q = (
            select(Readout)
            .join(Analyte, Analyte.id == Readout.analyte_id)
            .where(
                Analyte.code == analyte,
                Readout.assay == assay,
                Readout.run_code == run,
                Readout.replicate == rep,
            )
        )
        iso = isolations.find_isolation(tx, target)
        if iso is not None:
            found = tx.session.scalar(q.where(Readout.isolation_id == iso.id))
            if found is not None:
                return found
        s = samples.find_sample(tx, target)
        if s is not None:
            return tx.session.scalar(
                q.where(Readout.sample_id == s.id, Readout.isolation_id.is_(None))
            )
    return None


# The records undo may restore, found by code many at once (_records_for_events)
_BY_CODE: dict[str, tuple[Any, Any]] = {
    "sample": (Sample, Sample.sample_code),
    "isolation": (Isolation, Isolation.isolation_code),
    "cell_source": (CellSource, CellSource.code),
}


def _records_for_events(tx: Tx, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The stored record of each (entity, id), as :func:`_record_for` finds it: samples,
    isolations, cell sources and subjects by code, 500 per query (a batch of isolations
    updated a tube per isolation); readouts one by one."""
    wanted: dict[str, set[str]] = {}
    for entity, entity_id in keys:
        wanted.setdefault(entity, set()).add(entity_id)
    found: dict[tuple[str, str], Any] = {}
    s = tx.session
    for entity, ids in wanted.items():
        if entity in _BY_CODE:
            model, code = _BY_CODE[entity]
            for part in _chunks(sorted(ids)):
                for obj in s.scalars(select(model).where(code.in_(part))):
                    found[(entity, getattr(obj, code.key))] = obj
        elif entity == "subject":  # (its audit id is STUDY/SUBJECT)
            pairs = [(study, code) for study, _, code in (k.partition("/") for k in ids)]
            for (study, code), obj in subjects.find_subjects(tx, pairs).items():
                found[(entity, f"{study}/{code}")] = obj
        else:
            for key in ids:
                found[(entity, key)] = _record_for(tx, entity, key)
    return found


RESTORE_CHUNK = 500  # update events restored per step (records read at once, one flush)


def _restore_updates(tx: Tx, batch_id: int) -> int:
    """Put back the old values of records the batch updated (newest change first), 500
    events at a time: their records read at once, written in one flush, their events in one
    append (readouts, which keep readout_sets current, one by one), and let go of before the
    next 500 (a batch of 200,000 isolations updated 200,000 tubes)."""
    import json

    from exolab.services.audit import EventSpec, append_events
    from exolab.services.common import column_values

    s = tx.session
    heads: list[tuple[int, str, str]] = [
        (pk, entity, key)
        for pk, entity, key in s.execute(
            select(AuditEvent.id, AuditEvent.entity, AuditEvent.entity_id)
            .where(AuditEvent.batch_id == batch_id, AuditEvent.action == "update")
            .order_by(AuditEvent.id.desc())
        )
    ]
    reason = f"undo of import batch {batch_id}"
    now = utcnow()
    n = 0
    for part in _chunks(heads, RESTORE_CHUNK):
        texts = {
            pk: (old_text, new_text)
            for pk, old_text, new_text in s.execute(
                select(AuditEvent.id, AuditEvent.old_values, AuditEvent.new_values).where(
                    AuditEvent.id.in_([h[0] for h in part])
                )
            )
        }
        records = _records_for_events(tx, [(entity, key) for _, entity, key in part])
        specs: list[EventSpec] = []
        places: list[tuple[Any, Any, Any]] = []
        for pk, entity, entity_id in part:
            obj = records.get((entity, entity_id))
            if obj is None:
                raise Conflict(
                    f"cannot undo import batch {batch_id}: the {entity} {entity_id} it "
                    "updated no longer exists"
                )
            old_text, new_text = texts[pk]
            old = json.loads(old_text or "{}")
            new = json.loads(new_text or "{}")
            current = column_values(obj, only=new.keys())
            if entity == "isolation":
                current["steps"] = [
                    {"method": st.method, "params": dict(st.params or {})}
                    for st in s.scalars(
                        select(IsolationStep)
                        .where(IsolationStep.isolation_id == obj.id)
                        .order_by(IsolationStep.step_no)
                    )
                ]
            changed = [
                k
                for k, v in new.items()
                if k not in ("version", "updated_at") and current.get(k) != v
            ]
            if changed:
                raise Conflict(
                    f"cannot undo import batch {batch_id}: {entity} {entity_id} was changed "
                    f"after the import ({', '.join(changed)}); edit it by hand instead"
                )
            restore = {k: v for k, v in old.items() if k not in ("version", "updated_at")}
            if isinstance(obj, Sample) and ("position" in restore or "box_id" in restore):
                # (positions are put back after the chunk's tubes have left theirs, so the
                # one-tube-per-position index never sees two: a batch that moved tubes)
                box_id = restore.pop("box_id", obj.box_id)
                places.append((obj, box_id, restore.pop("position", obj.position)))
                obj.position = None
            for k, v in restore.items():
                if k == "steps":
                    s.execute(delete(IsolationStep).where(IsolationStep.isolation_id == obj.id))
                    for i, step in enumerate(v, start=1):
                        s.add(
                            IsolationStep(
                                isolation_id=obj.id,
                                step_no=i,
                                method=step["method"],
                                params=step.get("params") or {},
                            )
                        )
                    continue
                setattr(obj, k, _coerce(type(obj), k, v))
            obj.version = (obj.version or 0) + 1
            obj.updated_at = now
            if isinstance(obj, Readout):  # keep readout_sets current
                s.flush()
                readout_sets.refresh(tx, [(obj.sample_id, obj.analyte_id)])
            restore |= {k: v for k, v in old.items() if k in ("box_id", "position")}
            specs.append(
                (
                    "update",
                    entity,
                    entity_id,
                    {k: new.get(k) for k in restore},
                    restore,
                    reason,
                    batch_id,
                )
            )
            n += 1
        if places:
            s.flush()
            # (a tube of another batch or a later edit may sit there now: refused by name)
            _refuse_taken_positions(tx, batch_id, places)
            for obj, box_id, position in places:
                obj.box_id = _coerce(Sample, "box_id", box_id)
                obj.position = _coerce(Sample, "position", position)
        s.flush()
        append_events(tx, specs)
        for obj in records.values():  # (stored: read again if an older event needs it)
            if obj is not None and obj in s:
                s.expunge(obj)
    return n


def _refuse_taken_positions(tx: Tx, batch_id: int, places: list[tuple[Any, Any, Any]]) -> None:
    """The tubes a batch moved (or took out of storage), each with the box and position it
    goes back to, after the chunk's tubes have left theirs: they go back only if no other
    tube sits there now; otherwise the refusal names both (not the database's
    unique-constraint error). One query for the chunk."""
    wanted = {
        (_coerce(Sample, "box_id", box_id), position): tube
        for tube, box_id, position in places
        if box_id is not None and position is not None
    }
    if not wanted:
        return
    held = {
        (box_id, position): code
        for box_id, position, code in tx.session.execute(
            select(Sample.box_id, Sample.position, Sample.sample_code).where(
                Sample.box_id.in_({b for b, _ in wanted}),
                Sample.position.in_({p for _, p in wanted}),
            )
        )
    }
    for (box_id, position), tube in wanted.items():
        holder = held.get((box_id, position))
        if holder is None:
            continue
        box = tx.session.get(Box, box_id)
        where = f"{box.path if box is not None else box_id}/{position}"
        raise Conflict(
            f"cannot undo import batch {batch_id}: sample {tube.sample_code} would go back "
            f"to {where}, where sample {holder} is now; move {holder} elsewhere first. "
            "Nothing was changed"
        )


RECORD_ENTITIES = ("subject", "cell_source", "sample", "isolation", "readout")
MAX_RECORDS_NAMED = 10


def _readout_keys_edited(tx: Tx, batch_id: int) -> set[tuple[str, str]]:
    """Audit keys of the readouts the batch created that were edited since (an import writes
    no per-readout create event, docs/bulk-imports.md; an edit bumps the version)."""
    target = func.coalesce(Isolation.isolation_code, Sample.sample_code)
    q = (
        select(target, Analyte.code, Readout.assay, Readout.run_code, Readout.replicate)
        .join(Analyte, Analyte.id == Readout.analyte_id)
        .join(Sample, Sample.id == Readout.sample_id)
        .outerjoin(Isolation, Isolation.id == Readout.isolation_id)
        .where(Readout.batch_id == batch_id, Readout.version > 1)
    )
    return {
        ("readout", readout_rules.key_text(t, a, assay, run, rep))
        for t, a, assay, run, rep in tx.session.execute(q)
    }


def later_changes(tx: Tx, batch_id: int) -> list[AuditEvent]:
    """Audit events after the batch, by anyone else, on a record the batch created or updated
    (events of batches that were themselves undone do not count: their undo put the values
    back). Undo is refused when there are any (docs/reliability.md)."""
    import json

    s = tx.session
    first = s.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.batch_id == batch_id))
    if first is None:
        return []
    undone = batches.undone_batch_ids(tx)
    keys: set[tuple[str, str]] = {
        (e, i)
        for e, i in s.execute(
            select(AuditEvent.entity, AuditEvent.entity_id).where(
                AuditEvent.batch_id == batch_id, AuditEvent.entity.in_(RECORD_ENTITIES)
            )
        )
    }
    keys |= _readout_keys_edited(tx, batch_id)
    keys |= records_created_by(tx, batch_id)  # (created in bulk: no create event)
    later = s.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.id > first,
            AuditEvent.entity.in_(RECORD_ENTITIES),
            AuditEvent.batch_id.is_(None) | (AuditEvent.batch_id != batch_id),
        )
        .order_by(AuditEvent.id)
    )
    found = []
    for ev in later.yield_per(2000):
        if ev.batch_id is not None and ev.batch_id in undone:
            continue
        if (ev.entity, ev.entity_id) in keys or (
            ev.action == "delete"
            and ev.old_values
            and json.loads(ev.old_values).get("batch_id") == batch_id
        ):
            found.append(ev)
    return found


def _describe_later(batch_id: int, events: list[AuditEvent]) -> str:
    by_record: dict[tuple[str, str], list[AuditEvent]] = {}
    for ev in events:
        by_record.setdefault((ev.entity, ev.entity_id), []).append(ev)
    parts = []
    for (entity, ident), evs in list(by_record.items())[:MAX_RECORDS_NAMED]:
        what = ", ".join(
            f"event {e.id} {e.action}"
            + (f" in import batch {e.batch_id}" if e.batch_id else "")
            + f" by {e.user_name} at {e.at[:16].replace('T', ' ')}"
            for e in evs[:3]
        )
        more = f" and {len(evs) - 3} more" if len(evs) > 3 else ""
        parts.append(f"{entity} {ident} ({what}{more})")
    if len(by_record) > MAX_RECORDS_NAMED:
        parts.append(f"... and {len(by_record) - MAX_RECORDS_NAMED:,} more records")
    batches = sorted({e.batch_id for e in events if e.batch_id})
    hint = (
        f"undo import batch {', '.join(map(str, batches))} first, or correct the records by hand"
        if batches
        else "correct the records by hand instead"
    )
    return (
        f"cannot undo import batch {batch_id}: {len(by_record):,} records it created or updated "
        f"were changed afterwards: {'; '.join(parts)}. Nothing was changed; {hint}"
    )


def undo_batch(lab: Lab, batch_id: int) -> UndoReport:
    """Remove exactly what one import batch created and restore what it updated."""
    with lab.write() as tx:
        batches.lock_imports(tx)
        batch = batches.batch_to_undo(tx, batch_id)
        b = batch_id
        changed_after = later_changes(tx, b)
        if changed_after:
            raise Conflict(_describe_later(b, changed_after))
        readout_ids = _ids(tx, Readout, b)
        iso_ids = _ids(tx, Isolation, b)
        sample_ids = _ids(tx, Sample, b)
        subject_ids = _ids(tx, Subject, b)
        cell_ids = _ids(tx, CellSource, b)
        run_codes = list(
            tx.session.scalars(select(AssayRun.run_code).where(AssayRun.batch_id == b))
        )
        analyte_codes = _created_by_audit(tx, "analyte", b)
        study_codes = _created_by_audit(tx, "study", b)

        _refuse_if(tx, "readouts", Readout, Readout.isolation_id, iso_ids, b)
        _refuse_if(tx, "readouts", Readout, Readout.sample_id, sample_ids, b)
        _refuse_if(tx, "isolations", Isolation, Isolation.sample_id, sample_ids, b)
        _refuse_if(tx, "aliquots", Sample, Sample.parent_id, sample_ids, b)
        _refuse_if(tx, "samples", Sample, Sample.subject_id, subject_ids, b)
        _refuse_if(tx, "samples", Sample, Sample.cell_source_id, cell_ids, b)
        if run_codes:
            _refuse_if(tx, "readouts", Readout, Readout.run_code, run_codes, b)
        analyte_ids = (
            list(tx.session.scalars(select(Analyte.id).where(Analyte.code.in_(analyte_codes))))
            if analyte_codes
            else []
        )
        _refuse_if(tx, "readouts", Readout, Readout.analyte_id, analyte_ids, b)

        restored = _restore_updates(tx, b)

        visit_ids: set[int] = set()
        for part in _chunks(sample_ids):
            visit_ids.update(
                v
                for v in tx.session.scalars(select(Sample.visit_id).where(Sample.id.in_(part)))
                if v is not None
            )
        s = tx.session
        batch_pairs = readout_sets.PairsOf(where="batch_id = :b", params={"b": b})
        with readout_sets.refreshing(tx, batch_pairs):  # keep readout_sets current
            s.execute(delete(Readout).where(Readout.batch_id == b))
        for part in _chunks(iso_ids):
            s.execute(delete(IsolationStep).where(IsolationStep.isolation_id.in_(part)))
        s.execute(delete(Isolation).where(Isolation.batch_id == b))
        s.execute(delete(Sample).where(Sample.batch_id == b))
        for part in _chunks(sorted(visit_ids)):
            used = set(s.scalars(select(Sample.visit_id).where(Sample.visit_id.in_(part))))
            gone = [v for v in part if v not in used]
            if gone:
                s.execute(delete(Visit).where(Visit.id.in_(gone)))
        s.execute(delete(Subject).where(Subject.batch_id == b))
        s.execute(delete(CellSource).where(CellSource.batch_id == b))
        s.execute(delete(InstrumentRun).where(InstrumentRun.batch_id == b))  # before its run
        s.execute(delete(AssayRun).where(AssayRun.batch_id == b))
        for part in _chunks(analyte_ids):
            s.execute(delete(Analyte).where(Analyte.id.in_(part)))
        for code in study_codes:
            study = s.scalar(select(Study).where(Study.code == code))
            if study is not None and not s.scalar(
                select(func.count()).select_from(Subject).where(Subject.study_id == study.id)
            ):
                s.delete(study)
        removed = {
            "readouts": len(readout_ids),
            "isolations": len(iso_ids),
            "samples": len(sample_ids),
            "subjects": len(subject_ids),
            "cell_sources": len(cell_ids),
            "assay_runs": len(run_codes),
            "analytes": len(analyte_ids),
        }
        batches.mark_undone(tx, batch)
        s.flush()
        tx.audit(
            "undo",
            "import_batch",
            str(b),
            old={"status": "applied"},
            new={"status": "undone", "removed": removed, "restored": restored},
            reason=f"undo of import batch {b} ({batch.kind} from {batch.file_name})",
            batch_id=b,
        )
        return UndoReport(b, batch.kind, batch.file_name, removed, restored)
