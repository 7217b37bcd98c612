"""The readouts table's value-list checks (equality chains since migration 0004) still refuse
what they refused as IN lists, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from exolab.db.models import CENSORS, COMPARATORS, QC_STATUSES, Analyte, Readout, Sample
from exolab.services import samples, subjects
from exolab.services.context import Lab
from exolab.services.errors import Conflict


def _row(lab: Lab, **over: Any) -> dict[str, Any]:
    with lab.write() as tx:
        if tx.session.scalar(select(Sample.id).where(Sample.sample_code == "S-1")) is None:
            subjects.create_subject(tx, {"study": "EVS", "subject_id": "P01"})
            samples.register_sample(
                tx,
                {
                    "sample_id": "S-1",
                    "biofluid": "plasma",
                    "collected_at": "2024-03-01 09:00",
                    "study": "EVS",
                    "subject_id": "P01",
                    "visit": "baseline",
                },
            )
        sample = tx.session.scalar(select(Sample.id).where(Sample.sample_code == "S-1"))
        analyte = tx.session.scalar(select(Analyte.id).where(Analyte.code == "CD63"))
    row = {
        "sample_id": sample,
        "analyte_id": analyte,
        "assay": "elisa",
        "run_code": "",
        "replicate": 1,
        "value_text": "1.5",
        "value": 1.5,
        "comparator": "=",
        "censor": "none",
        "qc": None,
        "version": 1,
    }
    row.update(over)
    return row


def _insert(lab: Lab, row: dict[str, Any]) -> None:
    with lab.write() as tx:
        tx.session.execute(insert(Readout), [row])


@pytest.mark.parametrize(
    "column,values",
    [("comparator", COMPARATORS), ("censor", CENSORS), ("qc", (None, *QC_STATUSES))],
)
def test_every_listed_value_is_accepted(lab: Lab, column: str, values: tuple[Any, ...]) -> None:
    for i, value in enumerate(values, start=1):
        _insert(lab, _row(lab, replicate=i, **{column: value}))
    with lab.read() as tx:
        stored = tx.session.scalars(select(getattr(Readout, column))).all()
    assert sorted(stored, key=str) == sorted(values, key=str)


@pytest.mark.parametrize(
    "column,value",
    [
        ("comparator", "=="),
        ("comparator", ""),
        ("censor", "LOD"),
        ("censor", "None"),
        ("qc", "passed"),
        ("qc", ""),
    ],
)
def test_a_value_outside_the_list_is_refused(lab: Lab, column: str, value: str) -> None:
    row = _row(lab, **{column: value})
    with pytest.raises(Conflict, match=f"ck_readouts_{column}"):
        _insert(lab, row)
    with lab.read() as tx:
        assert tx.session.scalar(select(Readout.id)) is None
