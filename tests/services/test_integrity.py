"""`exolab db check` (services/integrity.py): tubes at a position their box does not have are
found whatever the box's geometry, in a number of statements that does not grow with the
number of boxes (a biobank of 1,000,000 tubes has ~12,000 boxes: one query each took ~5 s);
readouts stored with limits out of order are listed, and kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from exolab.services import integrity, readouts, storage
from exolab.services.context import Lab
from exolab.services.integrity import check_database
from tests.io.helpers import SUBJECTS, base_cohort, load
from tests.statements import counting

SAMPLES = """sample_id,biofluid,collected_at,study,subject_id,visit,location
T-A,plasma,2024-01-11 10:41,S1,P001,baseline,F/R/BOX9/A1
T-B,plasma,2024-01-11 10:41,S1,P001,baseline,F/R/SMALL/B3
T-C,plasma,2024-01-11 10:41,S1,P001,baseline,F/R/BAG
T-D,plasma,2024-01-11 10:41,S1,P001,baseline,F/R/BOX9/I9
"""


def cohort(lab: Lab, tmp: Path, extra_boxes: int = 0) -> None:
    load(lab, tmp, "subjects", SUBJECTS)
    with lab.write() as tx:
        storage.add_location(tx, "F/R/SMALL", n_rows=2, n_cols=3)
        storage.add_location(tx, "F/R/BAG", n_rows=0, n_cols=0)
        for i in range(extra_boxes):
            storage.add_location(tx, f"F/R/X{i}", exist_ok=True)
    load(lab, tmp, "samples", SAMPLES, create_locations=True)


def move(lab: Lab, code: str, position: str) -> None:
    """A position written behind exolab's back (a hand edit of the database)."""
    with lab.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE samples SET position = :p WHERE sample_code = :c"),
            {"p": position, "c": code},
        )


def position_problems(lab: Lab) -> list[str]:
    return sorted(p for p in check_database(lab)[0] if "position" in p)


def test_positions_outside_their_box_are_found(lab: Lab, tmp_path: Path) -> None:
    cohort(lab, tmp_path)
    assert position_problems(lab) == []
    move(lab, "T-A", "A10")  # a column a 9x9 box does not have
    move(lab, "T-B", "C1")  # a row a 2x3 box does not have
    move(lab, "T-C", "A1")  # a bag has no positions
    move(lab, "T-D", "a1")  # not the form positions are stored in
    assert position_problems(lab) == [
        "sample T-A is at a position box F/R/BOX9 does not have",
        "sample T-B is at a position box F/R/SMALL does not have",
        "sample T-C is at a position box F/R/BAG does not have",
        "sample T-D is at a position box F/R/BOX9 does not have",
    ]


def statements(lab: Lab) -> int:
    """How many statements ``check_database`` sends."""
    with counting(lab) as sent:
        check_database(lab)
    return len(sent)


def test_statements_do_not_grow_with_boxes(lab: Lab, tmp_path: Path) -> None:
    cohort(lab, tmp_path)
    few = statements(lab)
    with lab.write() as tx:
        for i in range(40):
            storage.add_location(tx, f"F/R/Y{i}")
    assert statements(lab) == few


READOUTS = """isolation_id,sample_id,analyte,value,unit,assay,run_id,replicate,lod,lloq,uloq
ISO-1,,CD63,12.5,pg/mL,elisa,R1,1,0.5,1,1000
ISO-1,,CD63,7,pg/mL,elisa,R1,2,0.5,1,1000
,P002-V1,CD9,3,pg/mL,elisa,,1,0.5,1,1000
ISO-2,,hsa-miR-21-5p,31,Ct,qpcr,Q1,1,40,35,30
"""


def set_limits(lab: Lab, replicate: int, lod: float, lloq: float, uloq: float) -> None:
    """Limits written behind exolab's back (or stored before the limits rule)."""
    with lab.db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE readouts SET lod = :lod, lloq = :lloq, uloq = :uloq "
                "WHERE replicate = :r AND assay = 'elisa'"
            ),
            {"lod": lod, "lloq": lloq, "uloq": uloq, "r": replicate},
        )


def limit_problems(lab: Lab) -> list[str]:
    return [p for p in check_database(lab)[0] if "readout" in p]


def test_readouts_with_limits_out_of_order_are_listed_and_kept(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_cohort(lab, tmp_path)
    load(lab, tmp_path, "readouts", READOUTS)
    assert limit_problems(lab) == []  # ({Ct}: a higher number is less, not checked)
    set_limits(lab, 1, 0.5, 100, 10)  # ISO-1 replicate 1 and P002-V1's readout
    set_limits(lab, 2, 50, 1, 10)
    assert limit_problems(lab) == [
        "readout ISO-1/CD63/elisa/R1/1: uloq 10 is below lloq 100",
        "readout ISO-1/CD63/elisa/R1/2: lod 50 is above uloq 10",
        "readout P002-V1/CD9/elisa//1: uloq 10 is below lloq 100",
    ]
    monkeypatch.setattr(integrity, "MAX_NAMED", 1)
    assert limit_problems(lab) == [
        "readout ISO-1/CD63/elisa/R1/1: uloq 10 is below lloq 100",
        "(2 more readouts with limits out of order)",
    ]
    with lab.read() as tx:  # kept as they are
        stored = sorted((r.replicate, r.lod, r.lloq, r.uloq) for r in readouts.iter_readouts(tx))
    assert stored == [(1, 0.5, 100.0, 10.0), (1, 0.5, 100.0, 10.0), (1, 40.0, 35.0, 30.0),
                      (2, 50.0, 1.0, 10.0)]  # fmt: skip
