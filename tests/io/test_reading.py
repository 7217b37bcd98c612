"""Every reading quirk of docs/import-formats.md, imported on SQLite and PostgreSQL."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from exolab.io.reading import FileProblem
from exolab.services.context import Lab
from exolab.services.readouts import readouts_of
from exolab.services.subjects import get_subject

from .helpers import SUBJECTS, base_cohort, counts, failure, load, write


def test_utf8_bom_is_read(lab: Lab, tmp_path: Path) -> None:
    rep = load(lab, tmp_path, "subjects", "\ufeff" + SUBJECTS)
    assert rep.created == 2
    with lab.read() as tx:
        assert get_subject(tx, "S1", "P001").birth_year == 1961


def test_semicolon_and_decimal_comma(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    text = (
        "isolation_id;analyte;value;unit;assay;replicate;lod\n"
        "ISO-1;CD63;12,5;pg/mL;elisa;1;0,5\n"
        "ISO-1;CD63;<0,5;pg/mL;elisa;2;0,5\n"
    )
    assert load(lab, tmp_path, "readouts", text).created == 2
    with lab.read() as tx:
        rs = readouts_of(tx, isolation="ISO-1")
    assert [(r.numeric, r.lod, r.censor, r.value) for r in rs] == [
        (12.5, 0.5, "none", "12,5"),
        (0.5, 0.5, "lt_lod", "<0,5"),
    ]


def test_semicolon_decimal_comma_in_other_kinds(lab: Lab, tmp_path: Path) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    text = "sample_id;biofluid;collected_at;study;subject_id;visit;volume_ml\n"
    text += "X1;plasma;2024-01-11 10:00;S1;P001;baseline;1,25\n"
    assert load(lab, tmp_path, "samples", text).created == 1
    from exolab.services.samples import get_sample

    with lab.read() as tx:
        assert get_sample(tx, "X1").volume_ml == 1.25


def test_tab_separated_crlf_quoted_newline_blank_trailing_lines(lab: Lab, tmp_path: Path) -> None:
    text = (
        "study\tsubject_id\tnotes\r\n"
        'S1\tP001\t"first line\r\nsecond line"\r\n'
        "S1\tP002\t\r\n"
        "\r\n\r\n   \r\n"
    )
    rep = load(lab, tmp_path, "subjects", text)
    assert rep.created == 2
    with lab.read() as tx:
        assert get_subject(tx, "S1", "P001").notes == "first line\r\nsecond line"


def test_header_case_and_spaces(lab: Lab, tmp_path: Path) -> None:
    text = " Study , Subject ID ,SEX\nS1,P001,f\n"
    assert load(lab, tmp_path, "subjects", text).created == 1
    with lab.read() as tx:
        assert get_subject(tx, "S1", "P001").sex == "F"


def test_micro_sign_and_u_in_units(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    text = (
        "isolation_id,analyte,value,unit,assay,replicate\n"
        "ISO-1,protein_total,12,µg/mL,bca,1\n"
        "ISO-2,protein_total,13,ug/ml,bca,1\n"
    )
    assert load(lab, tmp_path, "readouts", text).created == 2
    with lab.read() as tx:
        units = {r.unit for r in readouts_of(tx, isolation="ISO-1")}
        units |= {r.unit for r in readouts_of(tx, isolation="ISO-2")}
    assert units == {"ug/mL"}


def test_comment_lines_are_skipped(lab: Lab, tmp_path: Path) -> None:
    text = "study,subject_id\n# S1,EXAMPLE\nS1,P001\n"
    assert load(lab, tmp_path, "subjects", text).created == 1


def test_empty_file(lab: Lab, tmp_path: Path) -> None:
    with pytest.raises(FileProblem, match="empty"):
        load(lab, tmp_path, "subjects", "")
    with pytest.raises(FileProblem, match="empty"):
        load(lab, tmp_path, "subjects", "\n\r\n  \n")


def test_header_only_imports_nothing(lab: Lab, tmp_path: Path) -> None:
    rep = load(lab, tmp_path, "subjects", "study,subject_id\n")
    assert (rep.created, rep.batch_id, rep.no_rows) == (0, None, True)
    assert counts(lab)[0] == 0


def test_missing_required_column(lab: Lab, tmp_path: Path) -> None:
    lines = failure(lab, tmp_path, "subjects", "study,sex\nS1,F\n")
    assert lines == ["subjects.csv:1:subject_id: required column is missing"]


def test_unknown_column_and_ignore_extra(lab: Lab, tmp_path: Path) -> None:
    text = "study,subject_id,favourite_colour\nS1,P001,blue\n"
    lines = failure(lab, tmp_path, "subjects", text)
    assert len(lines) == 1
    assert lines[0].startswith("subjects.csv:1:favourite_colour: unknown column for subjects")
    assert counts(lab)[0] == 0
    assert load(lab, tmp_path, "subjects", text, ignore_extra=True).created == 1


def test_ragged_row(lab: Lab, tmp_path: Path) -> None:
    text = "study,subject_id,sex\nS1,P001,F\nS1,P002,M,extra\nS1,P003\n"
    lines = failure(lab, tmp_path, "subjects", text)
    assert lines[0].startswith(
        "subjects.csv:3:column 4: row has 4 fields but the header has 3 columns"
    )
    assert lines[1].startswith("subjects.csv:4:sex: row has 2 fields but the header has 3 columns")
    assert counts(lab)[0] == 0


def test_trailing_separators_are_not_ragged(lab: Lab, tmp_path: Path) -> None:
    assert load(lab, tmp_path, "subjects", "study,subject_id,\nS1,P001,\nS1,P002,,\n").created == 2


def test_latin1_is_refused(lab: Lab, tmp_path: Path) -> None:
    data = "study,subject_id,notes\nS1,P001,Müller\n".encode("latin-1")
    with pytest.raises(FileProblem, match=r"subjects.csv:2:notes: the file is not UTF-8"):
        load(lab, tmp_path, "subjects", data)
    assert counts(lab)[0] == 0


def test_latin1_late_in_a_big_file_is_refused_with_its_row(lab: Lab, tmp_path: Path) -> None:
    good = "".join(f"S1,P{i:05d},\n" for i in range(5000))
    data = ("study,subject_id,notes\n" + good).encode() + "S1,PX,Müller\n".encode("latin-1")
    with pytest.raises(FileProblem, match=r"subjects.csv:5002:notes: the file is not UTF-8"):
        load(lab, tmp_path, "subjects", data)
    assert counts(lab)[0] == 0


def test_renamed_xlsx_is_refused(lab: Lab, tmp_path: Path) -> None:
    p = tmp_path / "subjects.csv"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    from exolab.io.importer import run_import

    with pytest.raises(FileProblem, match=r"zip archive .*xlsx"):
        run_import(lab, "subjects", p)


def test_binary_and_utf16_are_refused(lab: Lab, tmp_path: Path) -> None:
    with pytest.raises(FileProblem, match="binary"):
        load(lab, tmp_path, "subjects", b"study,subject_id\n\x00\x01\x02")
    with pytest.raises(FileProblem, match="UTF-16"):
        load(lab, tmp_path, "subjects", SUBJECTS.encode("utf-16"))


def test_missing_file_and_directory(lab: Lab, tmp_path: Path) -> None:
    from exolab.io.importer import run_import

    with pytest.raises(FileProblem, match="no such file"):
        run_import(lab, "subjects", tmp_path / "nope.csv")
    with pytest.raises(FileProblem, match="directory"):
        run_import(lab, "subjects", tmp_path)


def test_readouts_quirks_in_one_file(lab: Lab, tmp_path: Path) -> None:
    """BOM + semicolons + CRLF + quoted newline in notes + µ + blank tail, on the bulk path."""
    base_cohort(lab, tmp_path)
    text = (
        "\ufeffIsolation ID;Analyte;Value;Unit;Assay;Replicate;Notes\r\n"
        'ISO-1;CD63;1,5;µg/mL;ELISA;1;"two\r\nlines"\r\n'
        "ISO-1;CD63;ND;µg/mL;ELISA;2;\r\n"
        "\r\n"
    )
    write(tmp_path, "r.csv", text)
    assert load(lab, tmp_path, "readouts", text).created == 2
    with lab.read() as tx:
        rs = readouts_of(tx, isolation="ISO-1")
    assert [(r.numeric, r.unit, r.censor, r.notes) for r in rs] == [
        (1.5, "ug/mL", "none", "two\r\nlines"),
        (None, "ug/mL", "not_detected", None),
    ]
