"""Re-importing unchanged readouts compares them in bulk, not one query per row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exolab.services import readouts as readout_service
from exolab.services.context import Lab

from .helpers import READOUTS, base_cohort, load


def _many() -> str:
    rows = [READOUTS.splitlines()[0]]
    for rep in range(1, 401):
        rows.append(f"ISO-1,,CD63,{rep * 0.5},pg/mL,elisa,R1,2024-03-05,{rep},0.5,pass")
        rows.append(f"ISO-2,,CD9,<0.5,pg/mL,elisa,R1,2024-03-05,{rep},0.5,")
        rows.append(f",P002-V1,CD81,detected,,western_blot,W1,2024-03-06,{rep},,")
    return "\n".join(rows) + "\n"


def test_unchanged_rows_take_no_per_row_query(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_cohort(lab, tmp_path)
    text = _many()
    assert load(lab, tmp_path, "readouts", text).created == 1200

    def per_row_lookup(*_: Any, **__: Any) -> Any:
        raise AssertionError("an unchanged row was looked up on its own")

    monkeypatch.setattr(readout_service, "get_readout", per_row_lookup)
    rep = load(lab, tmp_path, "readouts", text)
    assert (rep.created, rep.unchanged, rep.updated) == (0, 1200, 0)
    padded = text.replace(",2024-03-05,", ", 2024-03-05 ,").replace(",pg/mL,", ", pg/mL ,")
    assert load(lab, tmp_path, "readouts", padded).unchanged == 1200
    monkeypatch.undo()
    changed = text.replace("ISO-1,,CD63,0.5,", "ISO-1,,CD63,0.75,")
    rep = load(lab, tmp_path, "readouts", changed, on_duplicate="update")
    assert (rep.unchanged, rep.updated) == (1199, 1)


def test_unchanged_rows_with_well_and_dilution_take_no_per_row_query(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instrument columns (well, dilution_factor) are compared in bulk too, and a change
    in either is still seen."""
    base_cohort(lab, tmp_path)
    head = READOUTS.splitlines()[0] + ",well,dilution_factor"
    rows = [
        f"ISO-1,,CD63,{rep},pg/mL,elisa,R1,2024-03-05,{rep},0.5,pass,A{rep:02d},{rep % 3 + 1}"
        for rep in range(1, 13)
    ]
    text = "\n".join([head, *rows]) + "\n"
    assert load(lab, tmp_path, "readouts", text).created == 12

    def per_row_lookup(*_: Any, **__: Any) -> Any:
        raise AssertionError("an unchanged row was looked up on its own")

    monkeypatch.setattr(readout_service, "get_readout", per_row_lookup)
    rep = load(lab, tmp_path, "readouts", text)
    assert (rep.created, rep.unchanged, rep.updated) == (0, 12, 0)
    monkeypatch.undo()
    changed = text.replace(",A03,", ",B03,").replace(",A04,2\n", ",A04,5\n")
    assert changed.count("B03") == 1 and ",A04,5\n" in changed
    rep = load(lab, tmp_path, "readouts", changed, on_duplicate="update")
    assert (rep.unchanged, rep.updated) == (10, 2)
    with lab.read() as tx:
        by_rep = {r.replicate: r for r in readout_service.readouts_of(tx, isolation="ISO-1")}
    assert by_rep[3].well == "B03" and by_rep[4].dilution_factor == 5


def test_export_of_decimal_comma_readouts_reimports_as_unchanged(lab: Lab, tmp_path: Path) -> None:
    """A ';' file's '1,5' is exported as '1.5' (docs/import-formats.md): the same result, so
    re-importing the export (or the ';' file after it) creates, changes and refuses nothing,
    and an update keeps the text as typed."""
    from exolab.io.export import run_export

    base_cohort(lab, tmp_path)
    semicolon = (
        "isolation_id;analyte;value;unit;assay;run_id;replicate;lod\n"
        "ISO-1;CD63;1,5;pg/mL;elisa;R1;1;0,5\n"
        "ISO-1;CD63;<0,5;pg/mL;elisa;R1;2;0,5\n"
        "ISO-2;CD63;12,25;pg/mL;elisa;R1;1;0,5\n"
    )
    assert load(lab, tmp_path, "readouts", semicolon).created == 3
    out = tmp_path / "readouts-export.csv"
    run_export(lab, "readouts", str(out))
    exported = out.read_text(encoding="utf-8")
    assert ",1.5," in exported and ",<0.5," in exported
    for on_duplicate in ("error", "update"):
        rep = load(lab, tmp_path, "readouts", exported, on_duplicate=on_duplicate)
        assert (rep.created, rep.updated, rep.unchanged, rep.refused) == (0, 0, 3, 0)
    assert load(lab, tmp_path, "readouts", semicolon).unchanged == 3
    with lab.read() as tx:
        texts = sorted(r.value for r in readout_service.iter_readouts(tx))
    assert texts == ["1,5", "12,25", "<0,5"]
    changed = exported.replace(",12.25,", ",12.5,")
    rep = load(lab, tmp_path, "readouts", changed, on_duplicate="update")
    assert (rep.updated, rep.unchanged) == (1, 2)


def test_a_qc_correction_file_updates_only_qc(lab: Lab, tmp_path: Path) -> None:
    """A partial update of readouts (docs/lifecycle.md, "Partial update imports"): the key
    and the changed column only, e.g. replicates failed at review. Was refused: "value:
    required column is missing"."""
    from exolab.io.importer import ImportFailed, undo_batch
    from exolab.services.audit import list_events

    base_cohort(lab, tmp_path, readouts=True)
    qc = (
        "isolation_id,sample_id,analyte,assay,run_id,replicate,qc\n"
        "ISO-1,,CD63,ELISA,R1,2,fail\n"  # (the assay as typed in any case)
        " ISO-2 ,,cd63,elisa,R1,,fail\n"  # replicate 1 by default; a synonym's case
    )
    report = load(lab, tmp_path, "readouts", qc, on_duplicate="update")
    assert (report.updated, report.created, report.unchanged) == (2, 0, 0)
    with lab.read() as tx:
        stored = {
            (r.isolation_id, r.replicate): r for r in readout_service.iter_readouts(tx, page=10)
        }
        events = list_events(tx, entity="readout")
    assert stored[("ISO-1", 2)].qc == "fail" and stored[("ISO-1", 2)].value == "<0.5"
    assert stored[("ISO-2", 1)].qc == "fail" and stored[("ISO-2", 1)].value == "20"
    assert stored[("ISO-1", 1)].qc == "pass"
    updates = [e for e in events if e.action == "update"]
    assert {tuple(e.new_values or {}) for e in updates} >= {("qc",)}
    # the same file again: nothing changes
    again = load(lab, tmp_path, "readouts", qc, on_duplicate="update")
    assert (again.updated, again.unchanged) == (0, 2)
    # a key that is not stored needs every required column
    with pytest.raises(ImportFailed) as failed:
        load(
            lab,
            tmp_path,
            "readouts",
            "isolation_id,analyte,assay,run_id,replicate,qc\nISO-3,CD63,elisa,R1,1,fail\n",
            on_duplicate="update",
        )
    assert failed.value.report.problems is not None
    (line,) = failed.value.report.problems.lines()
    assert ":2:value:" in line and "ISO-3/CD63/elisa/R1/1 does not exist" in line
    # undo puts the values back
    assert report.batch_id is not None
    undo_batch(lab, report.batch_id)
    with lab.read() as tx:
        back = {
            (r.isolation_id, r.replicate): r.qc for r in readout_service.iter_readouts(tx, page=10)
        }
    assert back[("ISO-1", 2)] == "pass" and back[("ISO-2", 1)] == "pass"
