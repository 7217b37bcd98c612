"""Instrument runs: an assay run read from an instrument file, with that file kept
(migration 0008, docs/instruments.md). Recorded by the instrument import in its batch; read
by ``exolab run show|file`` and the UI."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from exolab.db.models import AssayRun, InstrumentRun, Isolation, Readout, Sample
from exolab.services.context import Tx
from exolab.services.errors import NotFound


class RunOut(BaseModel):
    run_id: str
    assay: str
    measured_on: date | None
    instrument: str | None
    readouts: int
    file_name: str | None = None
    file_size: int | None = None
    sha256: str | None = None
    parser: str | None = None
    instrument_model: str | None = None
    instrument_serial: str | None = None
    software_version: str | None = None
    operator: str | None = None
    run_at: str | None = None  # as written in the file
    run_at_parsed: datetime | None = None
    run_tz: str | None = None
    dilution_factor: float | None = None
    values_corrected: bool | None = None
    standard_curve: dict[str, Any] = {}
    controls: dict[str, Any] = {}
    left_out: list[Any] = []
    warnings: list[Any] = []
    settings: dict[str, Any] = {}


def file_of(tx: Tx, run_code: str) -> InstrumentRun | None:
    """The instrument record of a run (None for a run typed in a readouts CSV)."""
    return tx.session.scalar(
        select(InstrumentRun)
        .join(AssayRun, AssayRun.id == InstrumentRun.assay_run_id)
        .where(AssayRun.run_code == run_code)
    )


def run_of_file(tx: Tx, sha256: str) -> tuple[str, int | None] | None:
    """The run (id, batch) that already holds a file with these bytes, if any."""
    row = tx.session.execute(
        select(AssayRun.run_code, InstrumentRun.batch_id)
        .join(AssayRun, AssayRun.id == InstrumentRun.assay_run_id)
        .where(InstrumentRun.sha256 == sha256)
        .order_by(InstrumentRun.id)
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def run_with_results(
    tx: Tx, parser: str, run_at: datetime | None, fingerprint: str
) -> tuple[str, int | None] | None:
    """The run (id, batch) read by ``parser`` at ``run_at`` whose results have this
    fingerprint (another copy of the same export, re-saved with other line ends), if any."""
    # compared in the database (json_extract / ->>): the settings of an NTA run hold its
    # whole size distribution, never loaded here
    q = (
        select(AssayRun.run_code, InstrumentRun.batch_id)
        .join(AssayRun, AssayRun.id == InstrumentRun.assay_run_id)
        .where(InstrumentRun.parser == parser)
        .where(InstrumentRun.run_at.is_(None) if run_at is None else InstrumentRun.run_at == run_at)
        .where(InstrumentRun.settings["results_sha256"].as_string() == fingerprint)
        .order_by(InstrumentRun.id)
        .limit(1)
    )
    row = tx.session.execute(q).first()
    return None if row is None else (row[0], row[1])


def record_instrument_run(
    tx: Tx,
    *,
    run_code: str,
    assay: str,
    measured_on: date | None,
    instrument: str | None,
    notes: str | None,
    record: dict[str, Any],
    batch_id: int | None,
) -> None:
    """Create the assay run and its instrument record (``record``: InstrumentRun's columns
    other than ids and batch), audited under the import's batch."""
    tx.require_write("record instrument runs")
    run = AssayRun(
        run_code=run_code,
        assay=assay,
        measured_on=measured_on,
        instrument=instrument,
        operator=tx.actor.name,
        notes=notes,
        batch_id=batch_id,
    )
    tx.session.add(run)
    tx.session.flush()
    ir = InstrumentRun(assay_run_id=run.id, batch_id=batch_id, created_by=tx.actor.name, **record)
    tx.session.add(ir)
    tx.session.flush()
    tx.audit(
        "create",
        "instrument_run",
        run_code,
        new={
            "file_name": ir.file_name,
            "file_size": ir.file_size,
            "sha256": ir.sha256,
            "parser": f"{ir.parser} {ir.parser_version}",
            "instrument": instrument,
            "run_at": ir.run_at_text,
        },
        batch_id=batch_id,
    )


def get_run(tx: Tx, run_code: str) -> RunOut:
    ar = tx.session.scalar(select(AssayRun).where(AssayRun.run_code == run_code))
    if ar is None:
        raise NotFound(f"no run {run_code}")
    n = tx.session.scalar(
        select(func.count()).select_from(Readout).where(Readout.run_code == run_code)
    )
    out = RunOut(
        run_id=ar.run_code,
        assay=ar.assay,
        measured_on=ar.measured_on,
        instrument=ar.instrument,
        readouts=n or 0,
    )
    ir = file_of(tx, run_code)
    if ir is None:
        return out
    return out.model_copy(
        update={
            "file_name": ir.file_name,
            "file_size": ir.file_size,
            "sha256": ir.sha256,
            "parser": f"{ir.parser} {ir.parser_version}",
            "instrument_model": ir.instrument_model,
            "instrument_serial": ir.instrument_serial,
            "software_version": ir.software_version,
            "operator": ir.operator,
            "run_at": ir.run_at_text,
            "run_at_parsed": ir.run_at,
            "run_tz": ir.run_tz,
            "dilution_factor": ir.dilution_factor,
            "values_corrected": ir.values_corrected,
            "standard_curve": dict(ir.standard_curve or {}),
            "controls": dict(ir.controls or {}),
            "left_out": list(ir.left_out or []),
            "warnings": list(ir.warnings or []),
            "settings": dict(ir.settings or {}),
        }
    )


def run_file(tx: Tx, run_code: str) -> tuple[str, bytes]:
    """(file name, the original bytes) of a run read from an instrument file."""
    if tx.session.scalar(select(AssayRun.id).where(AssayRun.run_code == run_code)) is None:
        raise NotFound(f"no run {run_code}")
    ir = file_of(tx, run_code)
    if ir is None:
        raise NotFound(f"run {run_code} was not read from an instrument file")
    return ir.file_name, bytes(ir.content)


def runs_of_isolation(tx: Tx, isolation_code: str) -> list[RunOut]:
    """The instrument runs an isolation has readouts from (for its view: settings, NTA size
    distribution)."""
    codes = tx.session.scalars(
        select(Readout.run_code)
        .join(Isolation, Isolation.id == Readout.isolation_id)
        .join(AssayRun, AssayRun.run_code == Readout.run_code)
        .join(InstrumentRun, InstrumentRun.assay_run_id == AssayRun.id)
        .where(Isolation.isolation_code == isolation_code)
        .distinct()
        .order_by(Readout.run_code)
    ).all()
    return [get_run(tx, c) for c in codes]


def run_exists(tx: Tx, run_code: str) -> bool:
    """Whether an assay run with this id is stored (typed in a CSV or read from a file)."""
    return tx.session.scalar(select(AssayRun.id).where(AssayRun.run_code == run_code)) is not None


def targets(tx: Tx, ids: set[str]) -> dict[str, tuple[str, str]]:
    """id -> ("isolation_id" | "sample_id", id) for the ids that exist (an isolation id wins
    over a sample id spelled the same)."""
    found: dict[str, tuple[str, str]] = {}
    if not ids:
        return found
    for code in tx.session.scalars(
        select(Isolation.isolation_code).where(Isolation.isolation_code.in_(sorted(ids)))
    ):
        found[code] = ("isolation_id", code)
    rest = sorted(ids - set(found))
    if rest:
        for code in tx.session.scalars(
            select(Sample.sample_code).where(Sample.sample_code.in_(rest))
        ):
            found[code] = ("sample_id", code)
    return found
