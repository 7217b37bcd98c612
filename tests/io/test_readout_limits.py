"""A readout's limits in their order (docs/import-formats.md, "Limits"): ``uloq`` below
``lloq`` or ``lod`` above ``uloq`` is a typing error (columns swapped) and is refused on every
path that writes readouts -- ``exolab readout add``, the UI's form, ``import readouts`` in bulk
and row by row, whole rows and partial files with ``--on-duplicate update`` and an edit --
naming the file, row and column; nothing is written. Each import test runs on both
databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from exolab.domain.readout_rules import limits_rule
from exolab.domain.schemas import ReadoutIn, field_errors
from exolab.io import import_rows
from exolab.io.importer import ImportFailed, ImportReport, kind_of, run_import
from exolab.services import readouts
from exolab.services.context import Lab
from exolab.services.errors import ValidationFailed
from exolab.tui.widgets.forms import ModelFieldValidator
from tests.io.helpers import base_cohort, counts, load, write
from tests.test_cli_records import cli

COLUMNS = kind_of("readouts").columns
BASE = {"isolation_id": "ISO-1", "analyte": "CD63", "value": "5", "unit": "pg/mL",
        "assay": "elisa"}  # fmt: skip

# stored limits lod 0.5, lloq 1, uloq 1000 (every row), then corrections
STORED = (
    "isolation_id,analyte,value,unit,assay,run_id,replicate,lod,lloq,uloq\n"
    "ISO-1,CD63,12.5,pg/mL,elisa,R1,1,0.5,1,1000\n"
    "ISO-1,CD63,>ULOQ,pg/mL,elisa,R1,2,0.5,1,1000\n"
    "ISO-2,CD63,<LLOQ,pg/mL,elisa,R1,1,0.5,1,1000\n"
)


def _model_errors(data: dict[str, Any], **context: Any) -> list[tuple[str, str]]:
    try:
        ReadoutIn.model_validate(BASE | data, context=context or None)
    except ValidationError as exc:
        return field_errors(exc)
    return []


def test_the_limits_rule() -> None:
    assert limits_rule(None, 100, 10, "pg/mL") == ("uloq", "10 is below lloq 100")
    assert limits_rule(2000, 1, 1000, "pg/mL") == ("lod", "2000 is above uloq 1000")
    assert limits_rule(0.5, 1.5e9, 2e8, "/mL") == ("uloq", "2e+8 is below lloq 1.5e+9")
    # an edit names the limit it changed, the stored one being the other
    assert limits_rule(None, 100, 10, "pg/mL", {"lloq"}) == ("lloq", "100 is above uloq 10")
    assert limits_rule(None, 100, 10, "pg/mL", {"uloq"}) == ("uloq", "10 is below lloq 100")
    # an edit that gives no limit leaves the stored ones as they were: not checked
    assert limits_rule(None, 100, 10, "pg/mL", {"notes"}) is None
    assert limits_rule(None, 100, 10, "pg/mL", {"notes", "unit"}) is None
    assert limits_rule(50, None, 10, "pg/mL", {"uloq"}) == ("uloq", "10 is below lod 50")
    assert limits_rule(50, None, 10, "pg/mL", {"lod"}) == ("lod", "50 is above uloq 10")
    # in order, equal, a limit missing, or a detection limit above the lowest standard
    for lod, lloq, uloq in [
        (0.5, 1, 1000),
        (None, 10, 10),
        (10, 1, 10),
        (None, 100, None),
        (5, 1, None),
        (None, None, 0),
        (2, 1, 10),
    ]:
        assert limits_rule(lod, lloq, uloq, "pg/mL") is None, (lod, lloq, uloq)
    # in {Ct} a higher number is less of the target: the order is not checked
    assert limits_rule(40, 35, 15, "{Ct}") is None


def test_readoutin_refuses_limits_in_the_wrong_order() -> None:
    assert _model_errors({"lloq": "100", "uloq": "10"}) == [("uloq", "10 is below lloq 100")]
    assert _model_errors({"lod": "50", "uloq": "10"}) == [("lod", "50 is above uloq 10")]
    assert _model_errors({"lloq": "100", "uloq": "10"}, changed={"lloq"}) == [
        ("lloq", "100 is above uloq 10")
    ]
    assert _model_errors({"lod": "2", "lloq": "1", "uloq": "10"}) == []
    assert _model_errors({"lloq": "100", "uloq": "10", "unit": "Ct"}) == []
    # the order first: the same one problem as the bulk loader's (which checks the limits
    # with the run's columns, before the row's target)
    assert _model_errors({"sample_id": "P001-V1", "lloq": "100", "uloq": "10"}) == [
        ("uloq", "10 is below lloq 100")
    ]


def test_the_ui_form_names_the_field() -> None:
    """The record form validates each field with the whole form (ModelFieldValidator)."""
    form = BASE | {"lloq": "100", "uloq": "10"}
    uloq = ModelFieldValidator(ReadoutIn, "uloq", lambda: form).validate("10")
    assert not uloq.is_valid
    assert uloq.failure_descriptions == ["10 is below lloq 100"]
    assert ModelFieldValidator(ReadoutIn, "uloq", lambda: form).validate("100").is_valid


def _failure(lab: Lab, tmp: Path, text: str, **kw: Any) -> tuple[list[str], ImportReport]:
    path = write(tmp, "readouts.csv", text)
    try:
        run_import(lab, "readouts", path, display_name="readouts.csv", **kw)
    except ImportFailed as exc:
        assert exc.report.problems is not None
        return exc.report.problems.lines(), exc.report
    raise AssertionError("the import should have failed")


def _limits(lab: Lab) -> list[tuple[Any, ...]]:
    with lab.read() as tx:
        return sorted(
            (r.isolation_id, r.replicate, r.value, r.numeric, r.lod, r.lloq, r.uloq, r.version)
            for r in readouts.iter_readouts(tx)
        )


NEW = (
    "isolation_id,analyte,value,unit,assay,run_id,replicate,lod,lloq,uloq\n"
    "ISO-1,CD63,12.5,pg/mL,elisa,R1,1,0.5,1,1000\n"
    "ISO-1,CD63,7,pg/mL,elisa,R1,2,0.5,1,1000\n"
    "ISO-1,CD81,12.5,pg/mL,elisa,R1,1,0.5,100,10\n"  # swapped
    "ISO-1,CD81,8,pg/mL,elisa,R1,2,0.5,100,10\n"  # the same context again
    "ISO-2,CD81,>ULOQ,pg/mL,elisa,R1,1,2000,1,1000.0\n"  # lod above uloq
    "ISO-3,CD81,4,Ct,qpcr,Q1,1,40,35,15\n"  # {Ct}: not checked
)
NEW_PROBLEMS = [
    "readouts.csv:4:uloq: 10 is below lloq 100 ... and 1 more row with the same problem: rows 4-5",
    "readouts.csv:6:lod: 2000 is above uloq 1000",
]


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "row-by-row"])
def test_an_import_refuses_swapped_limits(lab: Lab, tmp_path: Path, bulk: bool) -> None:
    base_cohort(lab, tmp_path)
    lines, report = _failure(lab, tmp_path, NEW, bulk=bulk)
    assert lines == NEW_PROBLEMS
    assert report.refused == 3
    assert counts(lab) == (2, 3, 0)  # nothing written


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "row-by-row"])
def test_a_written_limit_is_named_as_written(lab: Lab, tmp_path: Path, bulk: bool) -> None:
    text = (
        "isolation_id,analyte,value,unit,assay,replicate,lloq,uloq\n"
        "ISO-1,CD63,12.5,pg/mL,elisa,1, 100.0 ,1e1\n"
    )
    base_cohort(lab, tmp_path)
    lines, _ = _failure(lab, tmp_path, text, bulk=bulk)
    assert lines == ["readouts.csv:2:uloq: 10 is below lloq 100 (got '1e1')"]


def test_a_good_file_with_limits_in_order_is_stored(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    load(lab, tmp_path, "readouts", STORED)
    assert _limits(lab) == [
        ("ISO-1", 1, "12.5", 12.5, 0.5, 1.0, 1000.0, 1),
        ("ISO-1", 2, ">ULOQ", 1000.0, 0.5, 1.0, 1000.0, 1),  # censored at the uloq
        ("ISO-2", 1, "<LLOQ", 1.0, 0.5, 1.0, 1000.0, 1),
    ]


@pytest.mark.parametrize("chunks", [True, False], ids=["chunked", "row-by-row"])
def test_a_partial_update_of_one_limit_is_checked_with_the_stored_ones(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: bool
) -> None:
    base_cohort(lab, tmp_path)
    load(lab, tmp_path, "readouts", STORED)
    before = _limits(lab)
    monkeypatch.setattr(import_rows, "UPDATE_CHUNK_ROWS", 2)
    text = (
        "isolation_id,analyte,assay,run_id,replicate,uloq\n"
        "ISO-1,CD63,elisa,R1,1,2000\n"  # fine
        "ISO-1,CD63,elisa,R1,2,0.8\n"  # below the stored lloq 1
        "ISO-2,CD63,elisa,R1,1,0.25\n"  # below the stored lod 0.5 (and lloq 1)
    )
    lines, report = _failure(lab, tmp_path, text, on_duplicate="update", bulk=chunks)
    assert lines == [
        "readouts.csv:3:uloq: 0.8 is below lloq 1",
        "readouts.csv:4:uloq: 0.25 is below lloq 1",
    ]
    assert report.refused == 2
    text = (
        "isolation_id,analyte,assay,run_id,replicate,lloq,lod\n"
        "ISO-1,CD63,elisa,R1,1,5000,\n"  # above the stored uloq 1000
        "ISO-2,CD63,elisa,R1,1,,1500\n"  # above the stored uloq 1000
        "ISO-1,CD63,elisa,R1,2,2,1\n"  # fine
    )
    lines, report = _failure(lab, tmp_path, text, on_duplicate="update", bulk=chunks)
    assert lines == [
        "readouts.csv:2:lloq: 5000 is above uloq 1000",
        "readouts.csv:3:lod: 1500 is above uloq 1000",
    ]
    assert _limits(lab) == before  # nothing written


def test_whole_rows_with_on_duplicate_update_refuse_swapped_limits(
    lab: Lab, tmp_path: Path
) -> None:
    base_cohort(lab, tmp_path)
    load(lab, tmp_path, "readouts", STORED)
    before = _limits(lab)
    text = STORED.replace("ISO-1,CD63,12.5,pg/mL,elisa,R1,1,0.5,1,1000",
                          "ISO-1,CD63,12.5,pg/mL,elisa,R1,1,0.5,1000,1")  # fmt: skip
    lines, _ = _failure(lab, tmp_path, text, on_duplicate="update")
    assert lines == ["readouts.csv:2:uloq: 1 is below lloq 1000"]
    assert _limits(lab) == before


def test_an_edit_is_checked_with_the_stored_limits(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    load(lab, tmp_path, "readouts", STORED)
    with lab.read() as tx:
        pk = next(r.id for r in readouts.iter_readouts(tx) if r.isolation_id == "ISO-2")
    with pytest.raises(ValidationFailed) as info, lab.write() as tx:
        readouts.update_readout(tx, pk, {"lloq": "2000"}, reason="re-read")
    assert [(e.field, e.message, e.value) for e in info.value.errors] == [
        ("lloq", "2000 is above uloq 1000", "2000")
    ]
    with pytest.raises(ValidationFailed) as info, lab.write() as tx:
        readouts.update_readout(tx, pk, {"uloq": 0.1}, reason="re-read")
    assert [(e.field, e.message) for e in info.value.errors] == [("uloq", "0.1 is below lloq 1")]
    # both limits corrected together: in order, stored (<LLOQ now reads the new lloq)
    with lab.write() as tx:
        out = readouts.update_readout(tx, pk, {"lloq": "2", "uloq": "20"}, reason="re-read")
    assert (out.lloq, out.uloq, out.numeric, out.censor) == (2.0, 20.0, 2.0, "lt_lloq")


def test_readout_add_refuses_swapped_limits(db_url: str, lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    row = ["--isolation-id", "ISO-1", "--analyte", "CD63", "--value", "12.5", "--unit",
           "pg/mL", "--assay", "elisa"]  # fmt: skip
    err = cli(db_url, "readout", "add", *row, "--lloq", "100", "--uloq", "10", code=1)
    assert "uloq: 10 is below lloq 100" in err
    err = cli(db_url, "readout", "add", *row, "--lod", "20", "--uloq", "10", code=1)
    assert "lod: 20 is above uloq 10" in err
    assert counts(lab)[2] == 0
    cli(db_url, "readout", "add", *row, "--lloq", "10", "--uloq", "100")
    assert counts(lab)[2] == 1


@pytest.mark.parametrize("chunks", [True, False], ids=["chunked", "row-by-row"])
def test_an_edit_of_other_columns_is_not_refused_for_limits_stored_before_the_rule(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: bool
) -> None:
    """A readout stored with its limits out of order (before the rule; `exolab db check`
    names it) can still take a correction that leaves its limits alone (a `qc` file); one
    that gives a limit is checked with the stored ones."""
    from sqlalchemy import text as sql

    base_cohort(lab, tmp_path)
    load(lab, tmp_path, "readouts", STORED)
    with lab.db.engine.begin() as conn:
        conn.execute(sql("UPDATE readouts SET lloq = 100, uloq = 10 WHERE replicate = 1"))
    monkeypatch.setattr(import_rows, "UPDATE_CHUNK_ROWS", 2)
    qc = (
        "isolation_id,analyte,assay,run_id,replicate,qc\n"
        "ISO-1,CD63,elisa,R1,1,fail\n"
        "ISO-2,CD63,elisa,R1,1,fail\n"
    )
    path = write(tmp_path, "qc.csv", qc)
    report = run_import(lab, "readouts", path, on_duplicate="update", bulk=chunks)
    assert report.updated == 2
    with lab.read() as tx:
        stored = sorted(
            (r.isolation_id, r.qc or "", r.lloq, r.uloq) for r in readouts.iter_readouts(tx)
        )
    assert stored == [
        ("ISO-1", "", 1.0, 1000.0),
        ("ISO-1", "fail", 100.0, 10.0),
        ("ISO-2", "fail", 100.0, 10.0),
    ]
    lines, _ = _failure(
        lab,
        tmp_path,
        "isolation_id,analyte,assay,run_id,replicate,lloq\nISO-1,CD63,elisa,R1,1,50\n",
        on_duplicate="update",
        bulk=chunks,
    )
    assert lines == ["readouts.csv:2:lloq: 50 is above uloq 10"]
    with lab.read() as tx:
        pk = next(r.id for r in readouts.iter_readouts(tx) if r.isolation_id == "ISO-2")
    with lab.write() as tx:
        out = readouts.update_readout(tx, pk, {"notes": "re-read"}, reason="note")
    assert (out.notes, out.lloq, out.uloq) == ("re-read", 100.0, 10.0)
