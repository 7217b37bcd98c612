"""Service-layer rules, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from exolab.db.models import AuditEvent, Sample
from exolab.services import isolations, readouts, samples, storage, subjects, users
from exolab.services.cell_sources import create_cell_source
from exolab.services.context import Lab
from exolab.services.errors import Conflict, PermissionDenied, StaleRecord, ValidationFailed

PLASMA: dict[str, Any] = {
    "sample_id": "S-001",
    "biofluid": "EDTA plasma",
    "collected_at": "2024-03-01 09:15",
    "study": "EVS",
    "subject_id": "P01",
    "visit": "baseline",
    "tube": "K2EDTA",
    "volume_ml": "4",
    "processed_at": "2024-03-01 10:00",
    "pre_centrifugation_delay_min": "45",
    "pre_centrifugation_temp": "RT",
    "spin1_g": "2500",
    "spin1_min": "15",
    "spin1_temp_c": "20",
    "spin1_brake": "no",
    "spin2_g": "2500",
    "spin2_min": "15",
    "spin2_temp_c": "20",
    "spin2_brake": "no",
    "post_centrifugation_delay_min": "30",
    "post_centrifugation_temp": "RT",
    "storage_temp_c": "-80",
    "storage_container": "pp_2ml",
    "location": "F1/R1/B1/A1",
}


def setup_subject(lab: Lab) -> None:
    with lab.write() as tx:
        # storage is created explicitly (docs/lifecycle.md); registering into an unknown box
        # is refused
        storage.add_location(tx, "F1/R1/B1")
        storage.add_location(tx, "F1/R1/B2")
        subjects.create_subject(
            tx,
            {
                "study": "EVS",
                "subject_id": "P01",
                "sex": "female",
                "birth_year": "1970",
                "group": "case",
            },
        )


def audit_count(lab: Lab, entity: str, entity_id: str) -> int:
    with lab.read() as tx:
        return (
            tx.session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
            )
            or 0
        )


def test_register_sample_normalises_and_derives_sprec(lab: Lab) -> None:
    setup_subject(lab)
    with lab.write() as tx:
        s = samples.register_sample(tx, PLASMA)
    assert s.biofluid == "plasma"
    assert s.tube == "PED"
    assert s.spin1_brake == "no_brake"
    assert s.sprec == "PL2-PED-A-A-A-B-A"
    assert s.location == "F1/R1/B1/A1"
    assert s.visit == "baseline" and s.subject_id == "P01" and s.study == "EVS"
    assert audit_count(lab, "sample", "S-001") == 1


def test_sample_errors_name_the_field(lab: Lab) -> None:
    setup_subject(lab)
    bad = PLASMA | {"biofluid": "lymph", "spin1_g": "-5"}
    with lab.write() as tx, pytest.raises(ValidationFailed) as err:
        samples.register_sample(tx, bad)
    fields = {e.field for e in err.value.errors}
    assert {"biofluid", "spin1_g"} <= fields
    with lab.write() as tx, pytest.raises(ValidationFailed) as err:
        samples.register_sample(tx, PLASMA | {"subject_id": "NOPE"})
    assert err.value.errors[0].field == "subject_id"


def test_one_tube_per_position_and_geometry(lab: Lab) -> None:
    setup_subject(lab)
    with lab.write() as tx:
        samples.register_sample(tx, PLASMA)
    with lab.write() as tx, pytest.raises(Conflict, match="taken by sample S-001"):
        samples.register_sample(tx, PLASMA | {"sample_id": "S-002"})
    with lab.write() as tx, pytest.raises(ValidationFailed, match="no J1"):
        samples.register_sample(tx, PLASMA | {"sample_id": "S-002", "location": "F1/R1/B1/J1"})
    with lab.write() as tx:
        moved = samples.move_sample(tx, "S-001", "F1/R1/B1/I9", reason="reorganise")
    assert moved.location == "F1/R1/B1/I9"
    with lab.read() as tx:
        grid = storage.box_grid(tx, "F1/R1/B1")
    assert len(grid.positions) == 81 and "A1" in grid.free and "I9" not in grid.free


def test_aliquot_increments_parent_freeze_thaw_and_inherits(lab: Lab) -> None:
    setup_subject(lab)
    with lab.write() as tx:
        samples.register_sample(tx, PLASMA)
        kids = samples.aliquot(
            tx, "S-001", [("S-001-A1", "F1/R1/B2/A1", 0.5), ("S-001-A2", "F1/R1/B2/A2", 0.5)]
        )
    assert [k.sample_id for k in kids] == ["S-001-A1", "S-001-A2"]
    with lab.read() as tx:
        parent = samples.get_sample(tx, "S-001")
        child = samples.get_sample(tx, "S-001-A1")
        tree = samples.aliquot_tree(tx, "S-001-A2")
    assert parent.freeze_thaw_count == 1 and parent.volume_ml == pytest.approx(3.0)
    assert child.freeze_thaw_count == 1
    assert child.subject_id == "P01" and child.visit == "baseline"
    assert child.sprec == parent.sprec and child.spin2_g == 2500
    assert [(d, s.sample_id) for d, s in tree] == [(0, "S-001"), (1, "S-001-A1"), (1, "S-001-A2")]
    with lab.write() as tx, pytest.raises(ValidationFailed, match="aliquots take"):
        samples.aliquot(tx, "S-001", [("X1", None, 5.0)])


def test_status_frees_position_and_needs_reason(lab: Lab) -> None:
    setup_subject(lab)
    with lab.write() as tx:
        samples.register_sample(tx, PLASMA)
    with lab.write() as tx, pytest.raises(ValidationFailed, match="reason"):
        samples.set_status(tx, "S-001", "discarded", reason="")
    with lab.write() as tx:
        s = samples.set_status(tx, "S-001", "discard", reason="tube cracked")
    assert s.status == "discarded" and s.location is None
    with lab.read() as tx:
        ev = [
            e
            for e in __import__("exolab.services.audit", fromlist=["x"]).list_events(
                tx, entity="sample", entity_id="S-001"
            )
        ]
    assert ev[0].action == "status" and ev[0].reason == "tube cracked"
    assert ev[0].old_values and ev[0].old_values["location"] == "F1/R1/B1/A1"


def test_update_is_audited_with_old_values_and_detects_stale(lab: Lab) -> None:
    setup_subject(lab)
    with lab.write() as tx:
        s = samples.register_sample(tx, PLASMA)
    with lab.write() as tx:
        s2 = samples.update_sample(
            tx, "S-001", {"hemolysis": "slight"}, reason="visual check", expected_version=s.version
        )
    assert s2.hemolysis == "slight" and s2.version == s.version + 1
    with lab.write() as tx, pytest.raises(StaleRecord):
        samples.update_sample(
            tx, "S-001", {"hemolysis": "none"}, reason="x", expected_version=s.version
        )
    from exolab.services.audit import list_events

    with lab.read() as tx:
        ev = list_events(tx, entity="sample", entity_id="S-001")[0]
    assert (ev.action == "update" and ev.old_values == {"hemolysis": None, "version": 1}) or (
        ev.old_values is not None and ev.old_values["hemolysis"] is None
    )
    assert ev.new_values is not None and ev.new_values["hemolysis"] == "slight"
    assert ev.reason == "visual check"


def test_isolation_steps_and_readouts_with_censoring(lab: Lab) -> None:
    setup_subject(lab)
    with lab.write() as tx:
        samples.register_sample(tx, PLASMA)
        iso = isolations.record_isolation(
            tx,
            {
                "isolation_id": "ISO-1",
                "sample_id": "S-001",
                "isolated_on": "2024-03-05",
                "method": "UF+SEC",
                "input_volume_ml": "1",
                "uf_mwco_kda": "100",
                "sec_column": "qEV original",
                "sec_fractions": "7-9",
                "final_volume_ul": "200",
            },
        )
    assert [s.method for s in iso.steps] == ["uf", "sec"]
    assert iso.steps[0].params == {"mwco_kda": 100.0}
    assert iso.as_input()["sec_column"] == "qEV original"
    with lab.write() as tx, pytest.raises(ValidationFailed, match="uc_g"):
        isolations.record_isolation(
            tx,
            {
                "isolation_id": "ISO-2",
                "sample_id": "S-001",
                "isolated_on": "2024-03-05",
                "method": "sec",
                "input_volume_ml": "1",
                "uc_g": "100000",
            },
        )
    with lab.write() as tx:
        r1 = readouts.record_readout(
            tx,
            {
                "isolation_id": "ISO-1",
                "analyte": "cd63",
                "value": "<LOD",
                "unit": "pg/ml",
                "assay": "ELISA",
                "lod": "15",
                "run_id": "E1",
            },
        )
        r2 = readouts.record_readout(
            tx, {"isolation_id": "ISO-1", "analyte": "ALIX", "value": "detected", "assay": "WB"}
        )
        r3 = readouts.record_readout(
            tx,
            {
                "isolation_id": "ISO-1",
                "analyte": "miR-21-5p",
                "value": "Undetermined",
                "unit": "Ct",
                "assay": "qpcr",
                "replicate": "2",
            },
        )
    assert (r1.numeric, r1.comparator, r1.censor, r1.value, r1.unit) == (
        15.0,
        "<",
        "lt_lod",
        "<LOD",
        "pg/mL",
    )
    assert r2.analyte == "PDCD6IP" and r2.qualitative == "detected" and r2.assay == "western_blot"
    assert r3.censor == "not_detected" and r3.unit == "{Ct}"
    with lab.write() as tx, pytest.raises(Conflict, match="already exists"):
        readouts.record_readout(
            tx,
            {
                "isolation_id": "ISO-1",
                "analyte": "CD63",
                "value": "3",
                "unit": "pg/mL",
                "assay": "elisa",
                "run_id": "E1",
            },
        )
    with lab.write() as tx, pytest.raises(ValidationFailed) as err:
        readouts.record_readout(
            tx,
            {
                "isolation_id": "ISO-1",
                "analyte": "CD9",
                "value": "12",
                "unit": "furlongs",
                "assay": "elisa",
            },
        )
    assert err.value.errors[0].field == "unit"


def test_conditioned_medium_needs_cell_source(lab: Lab) -> None:
    with lab.write() as tx:
        create_cell_source(
            tx,
            {
                "cell_source_id": "HEK-1",
                "cell_type": "HEK293T",
                "serum_condition": "serum-free",
                "passage": "12",
            },
        )
    row = {"sample_id": "CM-1", "biofluid": "conditioned medium", "collected_at": "2024-02-01"}
    with lab.write() as tx, pytest.raises(ValidationFailed, match="cell_source_id"):
        samples.register_sample(tx, row)
    with lab.write() as tx:
        s = samples.register_sample(tx, row | {"cell_source_id": "HEK-1"})
    assert s.cell_source_id == "HEK-1" and s.subject_id is None


def test_viewer_cannot_write(lab: Lab) -> None:
    with lab.write() as tx:
        users.add_user(tx, "vera", "viewer")
        users.add_user(tx, "tom", "technician")
    viewer = Lab(lab.db, "vera")
    with pytest.raises(PermissionDenied), viewer.write():
        pass
    with viewer.read() as tx:
        assert tx.actor.role == "viewer"
    tech = Lab(lab.db, "tom")
    with tech.write() as tx:
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P09"})
    with pytest.raises(PermissionDenied), tech.write() as tx:
        users.add_user(tx, "eve", "admin")
    stranger = Lab(lab.db, "nobody")
    with pytest.raises(PermissionDenied), stranger.write():
        pass


def test_failed_write_leaves_nothing(lab: Lab) -> None:
    setup_subject(lab)
    with pytest.raises(Conflict), lab.write() as tx:
        samples.register_sample(tx, PLASMA)
        samples.register_sample(tx, PLASMA | {"sample_id": "S-002"})  # same position
    with lab.read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(Sample)) == 0
    assert audit_count(lab, "sample", "S-001") == 0


def test_given_sprec_fills_unrecorded_and_conflict_names_sprec(lab: Lab) -> None:
    setup_subject(lab)
    bare = {
        k: PLASMA[k]
        for k in ("sample_id", "biofluid", "collected_at", "study", "subject_id", "visit")
    }
    with lab.write() as tx:
        s = samples.register_sample(tx, bare | {"sprec": "PL2-PED-A-A-A-B-A"})
    assert s.sprec == "PL2-PED-A-A-A-B-A"
    assert s.tube == "PED" and s.spin1_brake == "no_brake"
    with lab.write() as tx, pytest.raises(ValidationFailed) as err:
        samples.register_sample(
            tx, PLASMA | {"sample_id": "S-009", "location": None, "sprec": "PL2-PED-A-D-A-B-A"}
        )
    assert err.value.errors[0].field == "sprec"
