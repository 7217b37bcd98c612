"""The strict CSV reader: quoting mistakes, bad bytes and NULs anywhere (docs/reliability.md)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from exolab.io.reading import MAX_FIELD_LINES, FileProblem, open_csv, quote_problem
from exolab.services.context import Lab
from exolab.services.subjects import get_subject
from tests.test_cli import run

from .helpers import READOUTS, SAMPLES, base_cohort, counts, load, write

HEADER = "study,subject_id,sex,notes\n"


def _subjects(n: int) -> list[str]:
    return [f"S1,P{i:03d},F,fine and well\n" for i in range(1, n + 1)]


def _refused(lab: Lab, tmp_path: Path, kind: str, text: str | bytes) -> str:
    before = counts(lab)
    with pytest.raises(FileProblem) as exc:
        load(lab, tmp_path, kind, text)
    assert counts(lab) == before
    return str(exc.value)


def test_unterminated_quote_on_row_9_of_10_is_refused(lab: Lab, tmp_path: Path) -> None:
    rows = _subjects(9)
    rows[7] = 'S1,P008,F,"forgot to close\n'  # row 9 (the header is row 1)
    msg = _refused(lab, tmp_path, "subjects", HEADER + "".join(rows))
    assert msg.startswith("subjects.csv:9:notes: a quote opens this value but is never closed")


def test_unterminated_quote_closed_by_a_later_quote_is_refused(lab: Lab, tmp_path: Path) -> None:
    rows = _subjects(9)
    rows[2] = 'S1,P003,F,"opens here\n'  # row 4; the quote on row 6 "closes" it
    rows[4] = 'S1,P005,F,say "x"\n'
    msg = _refused(lab, tmp_path, "subjects", HEADER + "".join(rows))
    assert msg.startswith("subjects.csv:4:notes: ")


def test_quote_inside_an_unquoted_value(lab: Lab, tmp_path: Path) -> None:
    text = HEADER + 'S1,P001,F,fine\nS1,P002,F,a 5" tube\n'
    msg = _refused(lab, tmp_path, "subjects", text)
    assert msg.startswith("subjects.csv:3:notes: a quote inside an unquoted value")


def test_text_after_the_closing_quote(lab: Lab, tmp_path: Path) -> None:
    text = HEADER + 'S1,P001,"F"x,fine\n'
    msg = _refused(lab, tmp_path, "subjects", text)
    assert msg.startswith("subjects.csv:2:sex: text after the closing quote")


def test_a_value_spanning_too_many_lines(lab: Lab, tmp_path: Path) -> None:
    long = "\n".join(f"line {i}" for i in range(MAX_FIELD_LINES + 5))
    text = HEADER + "S1,P001,F,fine\n" + f'S1,P002,F,"{long}"\nS1,P003,F,fine\n'
    msg = _refused(lab, tmp_path, "subjects", text)
    assert msg.startswith(f"subjects.csv:3:notes: a quoted value spans {MAX_FIELD_LINES + 5}")


def test_proper_quoting_is_read(lab: Lab, tmp_path: Path) -> None:
    text = HEADER + 'S1,P001,F,"a ""5 mL"" tube, on ice\nsecond line"\n"S1",P002,,\n'
    assert load(lab, tmp_path, "subjects", text).created == 2
    with lab.read() as tx:
        assert get_subject(tx, "S1", "P001").notes == 'a "5 mL" tube, on ice\nsecond line'


def test_unterminated_quote_in_readouts(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    text = READOUTS.replace("ISO-2,,CD63,20,", 'ISO-2,,"CD63,20,')
    msg = _refused(lab, tmp_path, "readouts", text)
    assert msg.startswith("readouts.csv:4:analyte: a quote opens this value")


def test_bad_byte_past_64_kib_names_its_true_row(lab: Lab, tmp_path: Path) -> None:
    rows = [r.encode() for r in _subjects(6000)]
    rows[2499] = b"S1,P2500,F,caf\xe9\n"  # row 2501, far past the first 64 KiB
    msg = _refused(lab, tmp_path, "subjects", HEADER.encode() + b"".join(rows))
    assert msg.startswith("subjects.csv:2501:notes: the file is not UTF-8 text (byte 0xe9")


def test_bad_byte_inside_a_multiline_value_names_the_row_and_line(lab: Lab, tmp_path: Path) -> None:
    text = HEADER.encode() + b'S1,P001,F,"one\ntwo \xe9"\n'
    msg = _refused(lab, tmp_path, "subjects", text)
    assert msg.startswith("subjects.csv:2:notes: the file is not UTF-8 text")
    assert "(line 3 of the file)" in msg


def test_nul_byte_anywhere_is_refused(lab: Lab, tmp_path: Path) -> None:
    rows = [r.encode() for r in _subjects(6000)]
    rows[5999] = b"S1,P6000,F,ab\x00cd\n"
    msg = _refused(lab, tmp_path, "subjects", HEADER.encode() + b"".join(rows))
    assert msg.startswith("subjects.csv:6001:notes: a NUL byte")


def test_cli_says_where_and_exits_1(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", HEADER + 'S1,P001,F,"open\nS1,P002,F,x\n')
    r = run("--db", db_url, "import", "subjects", str(path))
    assert r.returncode == 1
    assert "s.csv:2:notes: a quote opens this value but is never closed" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_tells_the_rows_problems_found_before_reading_stopped(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    """Rows checked before a quote that is never closed had their problems written to the
    --errors file but not printed: the terminal showed only the quote, and the file was
    "the problem". Both show every problem found."""
    base_cohort(lab, tmp_path)
    path = write(
        tmp_path,
        "r.csv",
        "isolation_id,analyte,value,unit,assay,run_id,replicate\n"
        "ISO-1,CD63,inf,pg/mL,elisa,R1,1\n"
        "ISO-1,CD63,2,pg/mL,elisa,R1,2\n"
        'ISO-1,CD63,"3,pg/mL,elisa,R1,3\n',
    )
    out = tmp_path / "problems.csv"
    before = counts(lab)
    for extra in ([], ["--errors", str(out)]):
        r = run("--db", db_url, "import", "readouts", str(path), *extra)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        lines = r.stderr.splitlines()
        assert lines[0].startswith(f"{path}:2:value: cannot read 'inf'"), r.stderr
        assert lines[1].startswith(f"error: {path}:4:value: a quote opens this value but is")
        assert "2 problems" in lines[2] and "nothing was imported" in lines[2]
    assert str(out) in lines[2]
    with out.open(newline="", encoding="utf-8") as f:
        rows = [row[:2] for row in csv.reader(f)]
    assert rows == [["row", "column"], ["2", "value"], ["4", "value"]]
    assert counts(lab) == before


def test_old_mac_line_ends(tmp_path: Path) -> None:
    path = write(tmp_path, "mac.csv", b"a,b\rx,y\r1,2\r")
    with open_csv(path) as src:
        assert list(src.rows()) == [(2, ["x", "y"]), (3, ["1", "2"])]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b,c\n", None),
        ('a,"b,""c""",d\n', None),
        ('a,"b\nc",d\n', None),
        ('a,b"c,d\n', (1, 0)),
        ('a,"b"c,d\n', (1, 0)),
        ('a,b,"c\nd\n', (2, 0)),
        ('"a\n"x,b\n', (0, 1)),
    ],
)
def test_quote_problem(text: str, expected: tuple[int, int] | None) -> None:
    found = quote_problem(text, ",")
    assert (found[:2] if found else None) == expected


# A bad row, then reading stops on the row after it (a quote never closed): each path's rows
# read before the stop are in a chunk that was never finished.
_BEFORE_THE_STOP = {
    "subjects": (
        [],
        HEADER + "S1,P001,Q,fine\n" + 'S1,P002,F,"open\n',
        "sex",
    ),
    "subjects, bad bytes": (
        [],
        (HEADER + "S1,P001,Q,fine\n").encode() + b"S1,P002,F,caf\xe9\n",
        "sex",
    ),
    "samples": (
        [],
        SAMPLES.splitlines()[0] + "\n" + "P001-V9,plasma,2024-01-11 10:41,S1,P001,baseline,k2edta,"
        "abc,F-80/R1/B01/A9\n" + 'P001-V8,plasma,2024-01-11 10:41,S1,P001,"baseline,k2edta,4.0,\n',
        "volume_ml",
    ),
    "samples, an update file": (
        ["--on-duplicate", "update"],
        'sample_id,volume_ml\nP001-V1,abc\nP001-V2,"3.0\n',
        "volume_ml",
    ),
    "readouts, a stored key": (
        [],
        "isolation_id,analyte,value,unit,assay,run_id,measured_on,replicate\n"
        "ISO-1,CD63,99,pg/mL,elisa,R1,2024-03-05,1\n"
        'ISO-1,CD63,"3,pg/mL,elisa,R1,2024-03-05,3\n',
        "value",
    ),
}


@pytest.mark.parametrize("case", list(_BEFORE_THE_STOP))
def test_a_rows_problem_in_the_chunk_reading_stopped_in_is_told(
    lab: Lab, db_url: str, tmp_path: Path, case: str
) -> None:
    """A problem of a row read before reading stopped, in the chunk not finished yet, was
    lost: only the stop was printed and written to --errors. It is printed, counted and
    written, in file order."""
    base_cohort(lab, tmp_path, readouts=True)
    options, text, column = _BEFORE_THE_STOP[case]
    kind = case.split(",")[0]
    path = write(tmp_path, "f.csv", text)
    out = tmp_path / "problems.csv"
    before = counts(lab)
    r = run("--db", db_url, "import", kind, str(path), *options, "--errors", str(out))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"{path}:2:{column}: "), r.stderr
    assert lines[1].startswith(f"error: {path}:3:"), r.stderr
    stop = "not UTF-8 text" if "bytes" in case else "a quote opens this value but is never closed"
    assert stop in lines[1]
    assert lines[2].startswith(f"error: 2 problems in {path}; nothing was imported")
    with out.open(newline="", encoding="utf-8") as f:
        rows = [row[:2] for row in csv.reader(f)]
    assert rows == [["row", "column"], ["2", column], ["3", rows[2][1]]]
    assert counts(lab) == before
