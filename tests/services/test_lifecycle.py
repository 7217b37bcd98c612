"""The tube life-cycle (issue 11 findings 3-8 and 10's partial updates), on SQLite and
PostgreSQL: the same rule through the services, CSV imports and edits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exolab.io.importer import ImportFailed, run_import
from exolab.services import isolations, lifecycle, samples, storage, subjects, users
from exolab.services.audit import list_events
from exolab.services.context import Lab
from exolab.services.errors import Conflict, PermissionDenied, ValidationFailed

PARENT: dict[str, Any] = {
    "sample_id": "S-1",
    "biofluid": "plasma",
    "collected_at": "2024-03-01 09:15",
    "study": "EVS",
    "subject_id": "P01",
    "visit": "baseline",
    "tube": "K2EDTA",
    "volume_ml": "4",
    "storage_temp_c": "-80",
    "storage_container": "pp_2ml",
    "location": "F-80-3/R1/B1/A1",
}


def iso(code: str, sample: str = "S-1", volume: str = "0.5") -> dict[str, Any]:
    return {
        "isolation_id": code,
        "sample_id": sample,
        "isolated_on": "2024-03-05",
        "method": "sec",
        "input_volume_ml": volume,
    }


def setup(lab: Lab, *, stored: bool = True) -> None:
    with lab.write() as tx:
        storage.add_location(tx, "F-80-3/R1/B1")
        storage.add_location(tx, "F-80-3/R1/B2")
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P01"})
        samples.register_sample(tx, PARENT if stored else PARENT | {"location": None})


def sample(lab: Lab, code: str) -> samples.SampleOut:
    with lab.read() as tx:
        return samples.get_sample(tx, code)


def csv(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


# -- finding 3: nothing is taken from an inactive tube -------------------------------------


@pytest.mark.parametrize("status", ["discard", "consume", "ship", "lose"])
def test_isolation_from_inactive_tube_is_refused_with_the_reason(lab: Lab, status: str) -> None:
    setup(lab)
    with lab.write() as tx:
        samples.set_status(tx, "S-1", status, reason="test")
    gone = sample(lab, "S-1").status
    with lab.write() as tx, pytest.raises(Conflict, match=f"S-1 is {gone}.*cannot isolate from"):
        isolations.record_isolation(tx, iso("ISO-1"))
    with lab.write() as tx, pytest.raises(Conflict, match="cannot aliquot"):
        samples.aliquot(tx, "S-1", [("S-1-A1", None, 0.5)])
    with lab.read() as tx:
        assert isolations.isolations_of_sample(tx, "S-1") == []


def test_override_needs_admin_and_reason_and_is_audited(lab: Lab) -> None:
    setup(lab)
    with lab.write() as tx:
        samples.set_status(tx, "S-1", "discard", reason="cracked")
        users.add_user(tx, "tom", "technician")
    tech = Lab(lab.db, "tom")
    with pytest.raises(PermissionDenied), tech.write() as tx:
        isolations.record_isolation(tx, iso("ISO-1"), override_reason="last material")
    with lab.write() as tx:
        out = isolations.record_isolation(tx, iso("ISO-1"), override_reason="last material")
    assert out.sample_id == "S-1"
    with lab.read() as tx:
        events = list_events(tx, entity="sample", entity_id="S-1")
    override = [e for e in events if e.action == "override"]
    assert len(override) == 1 and override[0].reason == "last material"
    assert override[0].new_values == {"action": "isolate"}


def test_import_isolation_from_discarded_tube_names_the_row(lab: Lab, tmp_path: Path) -> None:
    setup(lab)
    with lab.write() as tx:
        samples.set_status(tx, "S-1", "discarded", reason="cracked")
    path = csv(
        tmp_path,
        "iso.csv",
        "isolation_id,sample_id,isolated_on,method,input_volume_ml\nISO-1,S-1,2024-03-05,sec,0.5\n",
    )
    with pytest.raises(ImportFailed) as err:
        run_import(lab, "isolations", path, display_name="iso.csv")
    assert err.value.report.problems is not None
    lines = err.value.report.problems.lines()
    assert lines[0].startswith("iso.csv:2:sample_id:") and "S-1 is discarded" in lines[0]


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "per_record"])
@pytest.mark.parametrize("status", ["consumed", "discarded", "shipped", "missing"])
def test_an_import_records_the_history_of_a_tube_registered_used_up(
    lab: Lab, tmp_path: Path, bulk: bool, status: str
) -> None:
    """A tube registered with an out-of-use status (an inventory or an export moved into
    exolab: its status came with it) may still get the aliquots and isolations an import
    records: the file is its history. A tube an action or edit put out of use since is
    refused as before (test_import_isolation_from_discarded_tube_names_the_row)."""
    with lab.write() as tx:
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P01"})
    tubes = csv(
        tmp_path,
        "tubes.csv",
        "sample_id,biofluid,collected_at,study,subject_id,visit,volume_ml,status,parent_sample_id\n"
        f"S-1,plasma,2024-03-01 09:15,EVS,P01,baseline,4,{status},\n"
        "S-1-A1,plasma,2024-03-01 09:15,,,,1,,S-1\n",
    )
    run_import(lab, "samples", tubes, bulk=bulk)
    path = csv(
        tmp_path,
        "iso.csv",
        "isolation_id,sample_id,isolated_on,method,input_volume_ml\nISO-1,S-1,2024-03-05,sec,0.5\n",
    )
    run_import(lab, "isolations", path, bulk=bulk)
    s1 = sample(lab, "S-1")
    assert s1.status == status and s1.volume_ml == pytest.approx(2.5)
    assert sample(lab, "S-1-A1").status == "available"
    # an action on it now is refused as for any tube out of use
    with lab.write() as tx, pytest.raises(Conflict, match="cannot isolate from"):
        isolations.record_isolation(tx, iso("ISO-2"))
    # and once an edit has set its status, an import is refused too
    with lab.write() as tx:
        samples.register_sample(tx, PARENT | {"sample_id": "S-2", "location": None})
        samples.set_status(tx, "S-2", "discard", reason="cracked")
    again = csv(
        tmp_path,
        "iso2.csv",
        "isolation_id,sample_id,isolated_on,method,input_volume_ml\nISO-3,S-2,2024-03-05,sec,0.5\n",
    )
    with pytest.raises(ImportFailed):
        run_import(lab, "isolations", again, bulk=bulk)


def test_allowed_actions_per_status() -> None:
    assert set(lifecycle.allowed_actions("available")) >= {"check_out", "aliquot", "isolate"}
    assert "return" not in lifecycle.allowed_actions("available")
    assert "return" in lifecycle.allowed_actions("checked_out")
    for gone in ("consumed", "discarded", "shipped"):
        assert lifecycle.allowed_actions(gone) == []
    assert lifecycle.allowed_actions("missing") == ["return", "discard", "move"]


# -- finding 4: volume is taken out of the tube ----------------------------------------------


def test_isolations_take_their_volume_and_never_go_below_zero(lab: Lab) -> None:
    setup(lab)
    with lab.write() as tx:
        samples.aliquot(tx, "S-1", [("S-1-A1", "F-80-3/R1/B2/A1", 0.5)])
    assert sample(lab, "S-1").volume_ml == pytest.approx(3.5)
    with lab.write() as tx:
        isolations.record_isolation(tx, iso("ISO-1", "S-1-A1"))
    assert sample(lab, "S-1-A1").volume_ml == 0
    with lab.read() as tx:  # the emptied tube shows in the low-volume queue
        from exolab.services.home import work_queues

        assert [q.key for q in work_queues(tx).low_volume] == ["S-1-A1"]
    with (
        lab.write() as tx,
        pytest.raises(ValidationFailed, match="S-1-A1 has only 0 mL left") as err,
    ):
        isolations.record_isolation(tx, iso("ISO-2", "S-1-A1"))
    assert err.value.errors[0].field == "input_volume_ml"
    with lab.write() as tx:
        events = list_events(tx, entity="sample", entity_id="S-1-A1")
    taken = [e for e in events if e.reason == "isolation ISO-1 took 0.5 mL"]
    assert taken and taken[0].new_values == {"volume_ml": 0.0, "volume_taken_ml": 0.5}


def test_isolation_edit_adjusts_the_volume_taken(lab: Lab) -> None:
    setup(lab)
    with lab.write() as tx:
        isolations.record_isolation(tx, iso("ISO-1", volume="1"))
        isolations.update_isolation(tx, "ISO-1", {"input_volume_ml": "0.25"}, reason="typo")
    assert sample(lab, "S-1").volume_ml == pytest.approx(3.75)
    with lab.write() as tx, pytest.raises(ValidationFailed, match=r"only 3\.75 mL left"):
        isolations.update_isolation(tx, "ISO-1", {"input_volume_ml": "5"}, reason="x")


def test_imported_isolations_and_aliquots_take_volume_and_undo_gives_it_back(
    lab: Lab, tmp_path: Path
) -> None:
    setup(lab)
    two = csv(
        tmp_path,
        "iso.csv",
        "isolation_id,sample_id,isolated_on,method,input_volume_ml\n"
        "ISO-1,S-1,2024-03-05,sec,2.5\n"
        "ISO-2,S-1,2024-03-06,sec,2.5\n",
    )
    with pytest.raises(ImportFailed) as err:
        run_import(lab, "isolations", two, display_name="iso.csv")
    assert err.value.report.problems is not None
    assert "has only 1.5 mL left" in err.value.report.problems.lines()[0]
    assert sample(lab, "S-1").volume_ml == 4
    one = csv(
        tmp_path,
        "iso1.csv",
        "isolation_id,sample_id,isolated_on,method,input_volume_ml\nISO-1,S-1,2024-03-05,sec,1\n",
    )
    rep = run_import(lab, "isolations", one, display_name="iso1.csv")
    assert sample(lab, "S-1").volume_ml == 3
    from exolab.io.importer import undo_batch

    assert rep.batch_id is not None
    undo_batch(lab, rep.batch_id)
    assert sample(lab, "S-1").volume_ml == 4


# -- finding 5: freeze-thaw ------------------------------------------------------------------


def test_aliquoting_fresh_material_counts_no_thaw(lab: Lab) -> None:
    setup(lab, stored=False)  # processed and never frozen
    with lab.write() as tx:
        kids = samples.aliquot(
            tx, "S-1", [("S-1-A1", "F-80-3/R1/B2/A1", 0.5), ("S-1-A2", "F-80-3/R1/B2/A2", 0.5)]
        )
    assert sample(lab, "S-1").freeze_thaw_count == 0
    assert [k.freeze_thaw_count for k in kids] == [0, 0]
    # the aliquots are now frozen in their box: checking one out thaws it
    with lab.write() as tx:
        out = samples.set_status(tx, "S-1-A1", "checkout", reason="assay")
    assert out.freeze_thaw_count == 1 and out.status == "checked_out"
    assert out.location == "F-80-3/R1/B2/A1"  # its place is kept for the return
    with lab.write() as tx:
        back = samples.set_status(tx, "S-1-A1", "return", reason="done")
    assert back.freeze_thaw_count == 1 and back.status == "available"
    with lab.write() as tx:
        again = samples.set_status(tx, "S-1-A1", "check out", reason="second assay")
    assert again.freeze_thaw_count == 2


def test_frozen_parent_thaws_once_and_children_inherit_that_count(lab: Lab) -> None:
    setup(lab)
    with lab.write() as tx:
        samples.set_status(tx, "S-1", "check_out", reason="aliquoting")
    assert sample(lab, "S-1").freeze_thaw_count == 1
    with lab.write() as tx:  # already thawed: aliquoting does not count again
        kids = samples.aliquot(tx, "S-1", [("S-1-A1", "F-80-3/R1/B2/A1", 1.0)])
    assert sample(lab, "S-1").freeze_thaw_count == 1 and kids[0].freeze_thaw_count == 1
    with lab.write() as tx:
        samples.set_status(tx, "S-1", "return", reason="back")
        kids = samples.aliquot(tx, "S-1", [("S-1-A2", "F-80-3/R1/B2/A2", 1.0)])
    assert sample(lab, "S-1").freeze_thaw_count == 2 and kids[0].freeze_thaw_count == 2
    assert sample(lab, "S-1-A1").freeze_thaw_count == 1  # made before the second thaw


def test_imported_aliquots_inherit_the_count_unless_given(lab: Lab, tmp_path: Path) -> None:
    setup(lab)
    with lab.write() as tx:
        samples.set_status(tx, "S-1", "check_out", reason="aliquoting")
        samples.set_status(tx, "S-1", "return", reason="back")
    path = csv(
        tmp_path,
        "aliquots.csv",
        "sample_id,biofluid,collected_at,parent_sample_id,volume_ml,freeze_thaw_count\n"
        "S-1-A1,plasma,2024-03-01 09:15,S-1,0.5,\n"
        "S-1-A2,plasma,2024-03-01 09:15,S-1,0.5,3\n",
    )
    run_import(lab, "samples", path, display_name="aliquots.csv")
    assert sample(lab, "S-1-A1").freeze_thaw_count == 1
    assert sample(lab, "S-1-A2").freeze_thaw_count == 3
    assert sample(lab, "S-1").volume_ml == pytest.approx(3.0)


# -- finding 6: storage locations -----------------------------------------------------------


def test_location_typo_is_an_error_naming_the_closest(lab: Lab, tmp_path: Path) -> None:
    setup(lab)
    with lab.write() as tx, pytest.raises(ValidationFailed, match="did you mean F-80-3/R1/B1"):
        samples.move_sample(tx, "S-1", "F80-3/R1/B1/C5")
    with lab.write() as tx, pytest.raises(ValidationFailed, match="did you mean F-80-3/R1/B2"):
        samples.move_sample(tx, "S-1", "F-80-3/R1/B3/C5")
    path = csv(
        tmp_path,
        "s.csv",
        "sample_id,biofluid,collected_at,study,subject_id,visit,location\n"
        "S-2,plasma,2024-03-01,EVS,P01,baseline,F80-3/R1/B1/A2\n",
    )
    with pytest.raises(ImportFailed) as err:
        run_import(lab, "samples", path, display_name="s.csv")
    assert err.value.report.problems is not None
    line = err.value.report.problems.lines()[0]
    assert line.startswith("s.csv:2:location:") and "did you mean F-80-3/R1/B1" in line
    dry = run_import(
        lab, "samples", path, display_name="s.csv", dry_run=True, create_locations=True
    )
    assert dry.locations == ["freezer F80-3", "rack F80-3/R1", "box F80-3/R1/B1"]
    with lab.read() as tx:
        assert [b.path for b in storage.list_boxes(tx)] == ["F-80-3/R1/B1", "F-80-3/R1/B2"]
    done = run_import(lab, "samples", path, display_name="s.csv", create_locations=True)
    assert done.created == 1 and len(done.locations) == 3
    assert sample(lab, "S-2").location == "F80-3/R1/B1/A2"


def test_storage_add_creates_levels_and_refuses_duplicates(lab: Lab) -> None:
    with lab.write() as tx:
        assert storage.add_location(tx, "F-20-1", temperature_c=-20) == ["freezer F-20-1"]
        made = storage.add_location(tx, "F-20-1/R2/BAG1", n_rows=0, n_cols=0)
    assert made == ["rack F-20-1/R2", "box F-20-1/R2/BAG1"]
    with lab.write() as tx, pytest.raises(Conflict, match="already exists"):
        storage.add_location(tx, "F-20-1/R2/BAG1")
    with lab.write() as tx, pytest.raises(ValidationFailed, match="rows 1-26"):
        storage.add_location(tx, "F-20-1/R2/B2", n_rows=30, n_cols=9)
    with lab.read() as tx:
        box = storage.list_boxes(tx)[0]
    assert (box.path, box.n_rows, box.n_cols) == ("F-20-1/R2/BAG1", 0, 0)


# -- finding 7: out-of-storage statuses free the position on every path ---------------------


def test_discard_through_csv_update_frees_the_position(lab: Lab, tmp_path: Path) -> None:
    setup(lab)
    path = csv(tmp_path, "u.csv", "sample_id,status,location\nS-1,discarded,\n")
    rep = run_import(lab, "samples", path, display_name="u.csv", on_duplicate="update")
    assert rep.updated == 1
    s = sample(lab, "S-1")
    assert s.status == "discarded" and s.location is None
    with lab.read() as tx:
        assert "A1" in storage.box_grid(tx, "F-80-3/R1/B1").free


def test_edit_to_shipped_frees_position_and_revival_needs_admin(lab: Lab) -> None:
    setup(lab)
    with lab.write() as tx:
        out = samples.update_sample(tx, "S-1", {"status": "shipped"}, reason="sent to partner")
    assert out.location is None
    with lab.write() as tx:
        users.add_user(tx, "tom", "technician")
    with pytest.raises(Conflict, match="S-1 is shipped"), Lab(lab.db, "tom").write() as tx:
        samples.update_sample(tx, "S-1", {"status": "available"}, reason="oops")
    with (
        pytest.raises(ValidationFailed, match="a shipped tube has no storage location"),
        lab.write() as tx,
    ):
        samples.update_sample(tx, "S-1", {"location": "F-80-3/R1/B1/A1"}, reason="x")
    with lab.write() as tx:  # an admin corrects a mistaken status: audited as an override
        back = samples.update_sample(tx, "S-1", {"status": "available"}, reason="never left")
    assert back.status == "available"


# -- finding 8: SPREC of aliquots ------------------------------------------------------------


def test_aliquot_in_smaller_container_gets_its_own_storage_element(lab: Lab) -> None:
    setup(lab)
    parent = sample(lab, "S-1")
    assert parent.sprec is not None and parent.sprec.endswith("-A")
    with lab.write() as tx:
        kids = samples.aliquot(
            tx,
            "S-1",
            [("S-1-A1", "F-80-3/R1/B2/A1", 0.2)],
            storage_container="pp_500ul",
        )
    kid = kids[0]
    assert kid.storage_container != parent.storage_container
    # elements 1-6 inherited, element 7 (storage) derived from the aliquot's own fields
    assert kid.sprec is not None
    assert kid.sprec.split("-")[:6] == parent.sprec.split("-")[:6]
    assert kid.sprec.split("-")[6] != "A"


def test_imported_aliquot_with_own_container(lab: Lab, tmp_path: Path) -> None:
    setup(lab)
    path = csv(
        tmp_path,
        "a.csv",
        "sample_id,biofluid,collected_at,parent_sample_id,volume_ml,storage_container\n"
        "S-1-A1,plasma,2024-03-01 09:15,S-1,0.2,pp_500ul\n",
    )
    run_import(lab, "samples", path, display_name="a.csv")
    kid, parent = sample(lab, "S-1-A1"), sample(lab, "S-1")
    assert kid.sprec and parent.sprec
    assert kid.sprec.split("-")[:6] == parent.sprec.split("-")[:6]


# -- finding 10 (service part): partial update imports ---------------------------------------


def test_partial_update_with_key_and_changed_columns(lab: Lab, tmp_path: Path) -> None:
    setup(lab)
    path = csv(tmp_path, "m.csv", "sample_id,location\nS-1,F-80-3/R1/B2/C5\n")
    rep = run_import(lab, "samples", path, display_name="m.csv", on_duplicate="update")
    assert rep.updated == 1
    assert sample(lab, "S-1").location == "F-80-3/R1/B2/C5"
    new_row = csv(tmp_path, "n.csv", "sample_id,location\nS-9,F-80-3/R1/B2/C6\n")
    with pytest.raises(ImportFailed) as err:
        run_import(lab, "samples", new_row, display_name="n.csv", on_duplicate="update")
    assert err.value.report.problems is not None
    line = err.value.report.problems.lines()[0]
    assert line.startswith("n.csv:2:biofluid:") and "S-9 does not exist" in line
    # without --on-duplicate update the header still needs every required column
    with pytest.raises(ImportFailed, match="required column is missing"):
        run_import(lab, "samples", path, display_name="m.csv")


def test_registered_volume_round_trips_and_isolations_do_not_thaw(lab: Lab, tmp_path: Path) -> None:
    setup(lab)
    with lab.write() as tx:
        isolations.record_isolation(tx, iso("ISO-1", volume="1.5"))
    s = sample(lab, "S-1")
    assert (s.volume_ml, s.volume_taken_ml, s.freeze_thaw_count) == (2.5, 1.5, 0)
    assert s.as_input()["volume_ml"] == 4.0  # the import column: volume at registration
    # re-importing the samples file the tube came from changes nothing
    header = ",".join(k for k in PARENT)
    row = ",".join(str(v) for v in PARENT.values())
    path = csv(tmp_path, "again.csv", f"{header}\n{row}\n")
    rep = run_import(lab, "samples", path, display_name="again.csv")
    assert (rep.created, rep.unchanged) == (0, 1)
    with lab.write() as tx:  # editing the registered volume keeps what was taken
        out = samples.update_sample(tx, "S-1", {"volume_ml": "3"}, reason="re-measured")
    assert (out.volume_ml, out.volume_taken_ml) == (1.5, 1.5)
    with lab.write() as tx, pytest.raises(ValidationFailed, match=r"already took 1\.5 mL"):
        samples.update_sample(tx, "S-1", {"volume_ml": "1"}, reason="x")


def test_a_location_typed_in_lower_case_suggests_the_stored_box(lab: Lab) -> None:
    """Each level of the suggestion is one that exists under the level above: not
    "F-80-3/r1/b1", a path made of the freezer found and the rack and box as typed."""
    setup(lab)
    with lab.write() as tx, pytest.raises(ValidationFailed) as err:
        samples.move_sample(tx, "S-1", "f-80-3/r1/b1/C5")
    assert str(err.value.errors[0].message) == (
        "no freezer f-80-3; storage F-80-3 exists; did you mean F-80-3/R1/B1?"
    )  # (in another case: named as stored, with no storage add that would be refused)
    with lab.write() as tx, pytest.raises(ValidationFailed) as err:
        samples.move_sample(tx, "S-1", "F-80-3/R9/b2/C5")
    assert "no rack F-80-3/R9 (did you mean F-80-3/R1/B2?)" in str(err.value.errors[0].message)
    with lab.write() as tx, pytest.raises(ValidationFailed) as err:
        samples.move_sample(tx, "S-1", "ZZZZZZ/R1/B1/C5")
    assert "(did you mean" not in str(err.value.errors[0].message)


def test_volume_used_from_an_aliquot_comes_off_what_its_parents_count_as_taken(lab: Lab) -> None:
    """docs/lifecycle.md, "Volume": S-1 (4 mL) -> A (1 mL) -> G (0.4 mL); 0.1 mL of G used at a
    consume: G registers 0.3 mL, A counts 0.3 mL taken (not 0.4), S-1 0.9 mL (not 1.0), each
    audited; the volumes left do not change. A later correction of G's volume takes the
    difference from A as the files say it."""
    setup(lab, stored=False)
    with lab.write() as tx:
        samples.aliquot(tx, "S-1", [("A", None, 1.0)])
        samples.aliquot(tx, "A", [("G", None, 0.4)])
        samples.set_status(tx, "G", "consume", reason="used", volume_used_ml=0.1)
    left = {c: sample(lab, c).volume_ml for c in ("S-1", "A", "G")}
    taken = {c: sample(lab, c).volume_taken_ml for c in ("S-1", "A", "G")}
    assert left == {"S-1": 3.0, "A": 0.6, "G": 0.3}
    assert taken == {"S-1": 0.9, "A": 0.3, "G": 0.0}
    registered = {c: sample(lab, c).as_input()["volume_ml"] for c in ("S-1", "A", "G")}
    assert registered == {"S-1": 3.9, "A": 0.9, "G": 0.3}
    with lab.read() as tx:
        reasons = [
            e.reason
            for e in list_events(tx, entity="sample", entity_id="S-1")
            if e.action == "update" and "used" in (e.reason or "")
        ]
    assert reasons == ["consume of G used 0.1 mL of aliquot G"]
    # G's correction back to what A gave it takes 0.1 mL more from A
    with lab.write() as tx:
        samples.update_sample(tx, "G", {"volume_ml": 0.4}, reason="typo")
    assert (sample(lab, "A").volume_ml, sample(lab, "A").volume_taken_ml) == (0.5, 0.4)


def test_volume_used_from_an_aliquot_of_a_tube_without_volume_changes_no_parent(
    lab: Lab,
) -> None:
    setup(lab, stored=False)
    with lab.write() as tx:
        samples.update_sample(tx, "S-1", {"volume_ml": None}, reason="volume unknown")
        samples.aliquot(tx, "S-1", [("A", None, 1.0)])
        samples.set_status(tx, "A", "consume", reason="used", volume_used_ml=0.25)
    assert (sample(lab, "A").volume_ml, sample(lab, "A").volume_taken_ml) == (0.75, 0.0)
    assert (sample(lab, "S-1").volume_ml, sample(lab, "S-1").volume_taken_ml) == (None, 0.0)
    with lab.read() as tx:
        events = list_events(tx, entity="sample", entity_id="S-1")
    assert not any("used" in (e.reason or "") for e in events)
