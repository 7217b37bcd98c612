"""A day in the lab (issue 11): register -> aliquot -> move -> check out -> return -> isolate
-> readouts with replicates -> discard. The CLI test (tests/test_cli_records.py) drives it
through the new verbs; a UI test can drive the same steps through the screens and compare
with :func:`assert_day_state`, which holds the expected database state at the end of the day.

Expected figures follow docs/lifecycle.md: the plasma tube is registered frozen in its box;
aliquoting thaws it once (freeze-thaw 1, the aliquots start at 1); checking the first aliquot
out thaws it (2); returning it and isolating from it count nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from exolab.db.models import AuditEvent
from exolab.services import isolations, readouts, samples, storage
from exolab.services.context import Lab

STUDY, SUBJECT = "EVS", "P01"
BOXES = ("F-80-1/R1/B1", "F-80-1/R1/B2")
PARENT = "DAY-PL"
ALIQUOTS = ("DAY-PL-A1", "DAY-PL-A2")
ISOLATION = "ISO-DAY-1"

REGISTER: dict[str, str] = {
    "biofluid": "plasma",
    "collected_at": "2024-03-01 09:15",
    "study": STUDY,
    "subject_id": SUBJECT,
    "visit": "baseline",
    "tube": "K2EDTA",
    "volume_ml": "4",
    "processed_at": "2024-03-01 10:00",
    "spin1_g": "2500",
    "spin1_min": "15",
    "spin1_temp_c": "20",
    "spin1_brake": "no",
    "storage_temp_c": "-80",
    "storage_container": "pp_2ml",
    "location": "F-80-1/R1/B1/A1",
}
ALIQUOT_VOLUME_ML = 1.0
ALIQUOT_LOCATIONS = ("F-80-1/R1/B2/A1", "F-80-1/R1/B2/A2")
MOVE_TO = "F-80-1/R1/B2/C5"
ISOLATE: dict[str, str] = {
    "sample_id": ALIQUOTS[0],
    "isolated_on": "2024-03-05",
    "method": "uf+sec",
    "input_volume_ml": "0.5",
    "uf_mwco_kda": "100",
    "sec_column": "qEV original 70 nm",
    "sec_fractions": "7-9",
    "final_volume_ul": "200",
}
# three ELISA replicates of CD63 (one below the LOD) and a western blot with its details
READOUTS: list[dict[str, str]] = [
    {
        "isolation_id": ISOLATION,
        "analyte": "CD63",
        "value": value,
        "unit": "pg/mL",
        "assay": "elisa",
        "run_id": "ELISA-DAY",
        "replicate": str(rep),
        "lod": "0.5",
    }
    for rep, value in ((1, "12.1"), (2, "11.8"), (3, "<0.5"))
] + [
    {
        "isolation_id": ISOLATION,
        "analyte": "CD9",
        "value": "detected",
        "assay": "western_blot",
        "run_id": "WB-DAY",
        "antibody": "anti-CD9 clone HI9a",
        "antibody_dilution": "1:1000",
        "lysis_buffer": "RIPA",
    }
]


def audit_actions(lab: Lab, entity_id: str) -> Counter[str]:
    with lab.read() as tx:
        return Counter(
            tx.session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.entity == "sample", AuditEvent.entity_id == entity_id
                )
            )
        )


def state(lab: Lab) -> dict[str, Any]:
    """The tubes, the isolation and readouts, and the box occupancy, as plain values."""
    with lab.read() as tx:
        tubes = {
            code: samples.get_sample(tx, code).model_dump(
                include={"volume_ml", "freeze_thaw_count", "location", "status", "sprec"}
            )
            for code in (PARENT, *ALIQUOTS)
        }
        iso = isolations.get_isolation(tx, ISOLATION)
        reads = sorted(
            (r.analyte, r.assay, r.replicate, r.value, r.antibody)
            for r in readouts.readouts_of(tx, isolation=ISOLATION)
        )
        occupied = {
            box: sorted(p.position for p in storage.box_grid(tx, box).positions if p.sample_id)
            for box in BOXES
        }
    return {
        "tubes": tubes,
        "isolation": (iso.sample_id, iso.input_volume_ml, iso.method),
        "readouts": reads,
        "occupied": occupied,
    }


def assert_day_state(lab: Lab) -> None:
    """The database at the end of the day, whichever way (CLI or UI) the day was driven."""
    s = state(lab)
    parent, first, second = (s["tubes"][c] for c in (PARENT, *ALIQUOTS))
    assert parent == parent | {
        "volume_ml": 2.0,
        "freeze_thaw_count": 1,
        "location": "F-80-1/R1/B1/A1",
        "status": "available",
    }
    assert first == first | {
        "volume_ml": 0.5,
        "freeze_thaw_count": 2,
        "location": MOVE_TO,
        "status": "available",
    }
    assert second == second | {
        "volume_ml": 1.0,
        "freeze_thaw_count": 1,
        "location": None,
        "status": "discarded",
    }
    # elements 1-6 of the aliquots' SPREC are the parent's
    assert first["sprec"].split("-")[:6] == parent["sprec"].split("-")[:6]
    assert s["isolation"] == (ALIQUOTS[0], 0.5, "uf+sec")
    assert s["readouts"] == [
        ("CD63", "elisa", 1, "12.1", None),
        ("CD63", "elisa", 2, "11.8", None),
        ("CD63", "elisa", 3, "<0.5", None),
        ("CD9", "western_blot", 1, "detected", "anti-CD9 clone HI9a"),
    ]
    assert s["occupied"] == {BOXES[0]: ["A1"], BOXES[1]: ["C5"]}
    # what the audit trail says happened to each tube
    assert audit_actions(lab, PARENT) == Counter({"create": 1, "aliquot": 1, "update": 2})
    assert audit_actions(lab, ALIQUOTS[0]) == Counter(
        {"create": 1, "move": 1, "status": 2, "update": 1}  # the isolation's volume
    )
    assert audit_actions(lab, ALIQUOTS[1]) == Counter({"create": 1, "status": 1})
