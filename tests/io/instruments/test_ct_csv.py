"""Ct values typed by hand in a readouts CSV: Undetermined on a {Ct} analyte is '>' (an
undetected target has a high Ct), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from exolab.db.models import Readout
from exolab.services.context import Lab
from tests.io.helpers import base_cohort, load

CT = """isolation_id,analyte,value,unit,assay,run_id,replicate,lod
ISO-1,miR-21-5p,Undetermined,Ct,qpcr,Q1,1,40
ISO-1,miR-21-5p,31.2,Ct,qpcr,Q1,2,40
ISO-2,CD63,ND,pg/mL,elisa,E1,1,0.5
"""


def test_undetermined_ct_in_csv_is_above_the_limit(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    load(lab, tmp_path, "readouts", CT)
    with lab.read() as tx:
        rows = tx.session.execute(
            select(Readout.value_text, Readout.value, Readout.comparator, Readout.censor).order_by(
                Readout.id
            )
        ).all()
    assert rows == [
        ("Undetermined", 40.0, ">", "not_detected"),
        ("31.2", 31.2, "=", "none"),
        ("ND", 0.5, "<", "not_detected"),
    ]
