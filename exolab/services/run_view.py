"""One assay run and its readouts, for the readout grid."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from sqlalchemy import (
    select,
)

from exolab.db.models import (
    Analyte,
    AssayRun,
    Isolation,
    Readout,
    Sample,
)
from exolab.services.context import Tx


class RunOut(BaseModel):
    run_id: str
    assay: str
    measured_on: date | None
    instrument: str | None
    operator: str | None
    notes: str | None


def get_run(tx: Tx, run_code: str) -> RunOut | None:
    run = tx.session.scalar(select(AssayRun).where(AssayRun.run_code == run_code))
    if run is None:
        return None
    return RunOut(
        run_id=run.run_code,
        assay=run.assay,
        measured_on=run.measured_on,
        instrument=run.instrument,
        operator=run.operator,
        notes=run.notes,
    )


class RunCell(BaseModel):
    isolation_id: str | None
    sample_id: str
    analyte: str
    replicate: int
    value: str
    unit: str | None


def run_readouts(tx: Tx, run_code: str, limit: int = 5000) -> list[RunCell]:
    """The readouts of one assay run, for the readout grid."""
    rows = tx.session.execute(
        select(
            Isolation.isolation_code,
            Sample.sample_code,
            Analyte.code,
            Readout.replicate,
            Readout.value_text,
            Readout.unit,
        )
        .join(Analyte, Analyte.id == Readout.analyte_id)
        .join(Sample, Sample.id == Readout.sample_id)
        .outerjoin(Isolation, Isolation.id == Readout.isolation_id)
        .where(Readout.run_code == run_code)
        .order_by(Readout.id)
        .limit(limit)
    ).all()
    return [
        RunCell(
            isolation_id=r[0], sample_id=r[1], analyte=r[2], replicate=r[3], value=r[4], unit=r[5]
        )
        for r in rows
    ]
