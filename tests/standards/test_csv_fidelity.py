"""CSV fidelity (docs/exports.md): RFC 4180 output with CRLF so embedded CR/LF are quoted,
separator sniffing that respects quoted line breaks, no float noise, ISO 8601 ``T``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from exolab.domain.decimals import mean, minus, ratio, scaled
from exolab.domain.units import convert
from exolab.io.export import run_export
from exolab.io.reading import first_record, open_csv, sniff_delimiter
from exolab.services.context import Lab
from tests.io.helpers import SUBJECTS, base_cohort, load, write


def export(lab: Lab, kind: str, **kw: object) -> str:
    buf = io.StringIO(newline="")
    run_export(lab, kind, None, stdout=buf, **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def test_a_bare_cr_in_a_note_round_trips_through_export_and_import(
    lab: Lab, tmp_path: Path
) -> None:
    # The external case: an old-Mac line end inside a free-text note.
    text = SUBJECTS.replace('"likes, commas"', '"line one\rline two"')
    load(lab, tmp_path, "subjects", text)
    out = export(lab, "subjects")
    assert out.endswith("\r\n")
    assert '"line one\rline two"' in out  # quoted, not split
    records = list(csv.reader(io.StringIO(out, newline="")))
    assert {len(r) for r in records} == {len(records[0])}
    # and exolab re-imports its own export
    path = tmp_path / "again.csv"
    path.write_text(out, encoding="utf-8", newline="")
    with open_csv(path) as f:
        rows = [fields for _, fields in f.rows()]
    notes = f.header.index("notes")
    assert [r[notes] for r in rows] == ["", "line one\rline two"]


def test_every_line_of_an_export_ends_with_crlf(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    for kind in ("subjects", "samples", "isolations", "readouts", "longitudinal"):
        raw = export(lab, kind)
        assert raw.count("\n") == raw.count("\r\n") > 1, kind


def test_a_quoted_header_name_with_a_line_break_does_not_hide_the_separator(
    tmp_path: Path,
) -> None:
    # The first physical line is `"subject` - no separator in it - yet the file is `;`.
    text = '"subject\nid";study;sex\nP001;S1;F\n'
    assert first_record(text) == '"subject\nid";study;sex\n'
    assert sniff_delimiter(first_record(text)) == ";"
    path = write(tmp_path, "x.csv", text)
    with open_csv(path) as f:
        assert f.delimiter == ";"
        assert f.raw_header == ["subject\nid", "study", "sex"]
        assert [fields for _, fields in f.rows()] == [["P001", "S1", "F"]]


def test_first_record_skips_comments_and_blank_lines_and_handles_escaped_quotes() -> None:
    assert first_record('\n# a comment, with commas\n\n"a ""b\nc""";d\tx\n1;2\n') == (
        '"a ""b\nc""";d\tx\n'
    )
    assert first_record("# only a comment\n") == ""
    assert first_record("a,b") == "a,b"


def test_converted_values_have_no_float_noise() -> None:
    # 0.3299 ng/mL is exactly 329.9 pg/mL; binary multiplication gives 329.90000000000003.
    assert 0.3299 * 1000 != 329.9
    assert convert(0.3299, "ng/mL", "pg/mL") == 329.9
    assert convert(1.005, "ng/mL", "pg/mL") == 1005.0
    assert convert(0.22635, "ng/mL", "pg/mL") == 226.35
    assert repr(convert(1.1, "ng/mL", "pg/mL")) == "1100.0"
    assert scaled(0.22635, 1000.0) == 226.35
    # precision is kept: 17 significant digits in, 17 out
    assert scaled(0.12345678901234567, 1000.0) == 123.45678901234567


def test_decimal_arithmetic_of_stored_values() -> None:
    assert mean([226.3, 226.4]) == 226.35  # binary: 226.35000000000002
    assert minus(132.0, 103.1) == 28.9  # binary: 28.900000000000006
    assert ratio(51.6, 50.1) == float("1.029940119760479041916167665")
    assert mean([1.0, 2.0, 2.0]) == 5 / 3


def test_longitudinal_export_prints_no_float_noise_and_iso_t(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    load(
        lab,
        tmp_path,
        "readouts",
        "isolation_id,analyte,value,unit,assay,run_id,measured_on,replicate\n"
        "ISO-1,CD63,226.3,pg/mL,elisa,R1,2024-03-05,1\n"
        "ISO-1,CD63,226.4,pg/mL,elisa,R1,2024-03-05,2\n"
        "ISO-2,CD63,0.3299,ng/mL,elisa,R2,2024-05-05,1\n",
    )
    rows = list(csv.DictReader(io.StringIO(export(lab, "longitudinal"), newline="")))
    by_iso = {r["isolation_id"]: r for r in rows}
    assert by_iso["ISO-1"]["replicate_mean"] == "226.35"
    assert by_iso["ISO-1"]["baseline_value"] == "226.35"
    assert by_iso["ISO-2"]["std_value"] == "329.9"
    assert by_iso["ISO-2"]["change_from_baseline"] == "103.55"
    assert by_iso["ISO-1"]["collected_at"] == "2024-01-11T10:41:00"


def test_every_export_writes_datetimes_with_t(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    samples = list(csv.DictReader(io.StringIO(export(lab, "samples"), newline="")))
    assert {r["collected_at"] for r in samples} == {
        "2024-01-11T10:41:00",
        "2024-04-11T10:00:00",
        "2024-01-12T09:00:00",
    }
    for kind in ("subjects", "samples", "isolations", "readouts", "longitudinal"):
        raw = export(lab, kind)
        assert " 10:41" not in raw and " 09:00:00" not in raw, kind


def test_changes_between_repeating_means_are_exact(lab: Lab, tmp_path: Path) -> None:
    # (23.51 + 23.8 + 24.08) / 3 - (24.0 + 24.0 + 24.02) / 3 is exactly -0.21
    base_cohort(lab, tmp_path)
    load(
        lab,
        tmp_path,
        "readouts",
        "isolation_id,analyte,value,unit,assay,run_id,measured_on,replicate\n"
        "ISO-1,miR-21,24.0,{Ct},qpcr,R1,2024-03-05,1\n"
        "ISO-1,miR-21,24.0,{Ct},qpcr,R1,2024-03-05,2\n"
        "ISO-1,miR-21,24.02,{Ct},qpcr,R1,2024-03-05,3\n"
        "ISO-2,miR-21,23.51,{Ct},qpcr,R2,2024-05-05,1\n"
        "ISO-2,miR-21,23.8,{Ct},qpcr,R2,2024-05-05,2\n"
        "ISO-2,miR-21,24.08,{Ct},qpcr,R2,2024-05-05,3\n",
    )
    rows = list(csv.DictReader(io.StringIO(export(lab, "longitudinal"), newline="")))
    later = next(r for r in rows if r["isolation_id"] == "ISO-2")
    assert later["change_from_baseline"] == "-0.21"
    assert later["baseline_value"] == "24.006666666666668"
