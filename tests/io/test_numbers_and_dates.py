"""Finite numbers in plausible ranges, dates in a plausible window (docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exolab.services.context import Lab

from .helpers import READOUTS, SAMPLES, SUBJECTS, base_cohort, counts, failure, load

SAMPLE_HEAD = "sample_id,biofluid,collected_at,study,subject_id,visit,"


def _sample_row(column: str, value: str) -> str:
    return f"{SAMPLE_HEAD}{column}\nX1,plasma,2024-01-11 10:00,S1,P001,baseline,{value}\n"


@pytest.mark.parametrize("value", ["inf", "Infinity", "-inf", "1e309", "nan", "NaN", "1_000"])
@pytest.mark.parametrize(
    "column", ["volume_ml", "spin1_g", "spin1_min", "pre_centrifugation_delay_min", "a414"]
)
def test_sample_numbers_must_be_finite_and_plain(
    lab: Lab, tmp_path: Path, column: str, value: str
) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    lines = failure(lab, tmp_path, "samples", _sample_row(column, value))
    assert lines[0].startswith(f"samples.csv:2:{column}: "), lines
    assert counts(lab)[1] == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("spin1_temp_c", "-250"),
        ("storage_temp_c", "150"),
        ("spin1_g", "0"),
        ("spin1_g", "2000000"),
        ("spin1_min", "-1"),
        ("volume_ml", "-0.5"),
        ("volume_ml", "20240111"),  # a date typed into the volume column
        ("volume_ml", "100000.5"),
    ],
)
def test_sample_numbers_outside_plausible_ranges(
    lab: Lab, tmp_path: Path, column: str, value: str
) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    lines = failure(lab, tmp_path, "samples", _sample_row(column, value))
    assert lines[0].startswith(f"samples.csv:2:{column}: "), lines


def test_plausible_extremes_are_accepted(lab: Lab, tmp_path: Path) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    text = f"{SAMPLE_HEAD}storage_temp_c,spin1_g,volume_ml\nX1,plasma,2024-01-11 10:00,S1,P001,baseline,-196,1e5,100000\n"
    assert load(lab, tmp_path, "samples", text).created == 1


@pytest.mark.parametrize(
    ("column", "value"), [("input_volume_ml", "20240111"), ("final_volume_ul", "1e9")]
)
def test_isolation_volumes_outside_plausible_ranges(
    lab: Lab, tmp_path: Path, column: str, value: str
) -> None:
    base_cohort(lab, tmp_path)
    head = "isolation_id,sample_id,isolated_on,method,input_volume_ml,final_volume_ul\n"
    row = {"input_volume_ml": "0.5", "final_volume_ul": "200"} | {column: value}
    text = f"{head}ISO-9,P001-V1,2024-03-02,sec,{row['input_volume_ml']},{row['final_volume_ul']}\n"
    lines = failure(lab, tmp_path, "isolations", text)
    assert lines[0].startswith(f"isolations.csv:2:{column}: "), lines


@pytest.mark.parametrize(
    ("kind", "column", "value"),
    [
        ("cell_sources", "conditioning_hours", "1e309"),
        ("cell_sources", "confluency_pct", "Infinity"),
        ("cell_sources", "passage", "1_0"),
        ("isolations", "uc_g", "inf"),
        ("isolations", "input_volume_ml", "nan"),
        ("isolations", "final_volume_ul", "1e999"),
        ("readouts", "lod", "Infinity"),
        ("readouts", "uloq", "1e309"),
        ("readouts", "value", "1e309"),
        ("readouts", "value", "1_000"),
        ("readouts", "replicate", "1_0"),
        ("subjects", "birth_year", "1_961"),
    ],
)
def test_every_kind_refuses_non_finite_numbers(
    lab: Lab, tmp_path: Path, kind: str, column: str, value: str
) -> None:
    base_cohort(lab, tmp_path, readouts=False)
    rows = {
        "cell_sources": "cell_source_id,cell_type\nC1,MSC\n",
        "isolations": "isolation_id,sample_id,isolated_on,method,input_volume_ml\n"
        "ISO-9,P001-V1,2024-03-02,duc,0.5\n",
        "readouts": READOUTS,
        "subjects": SUBJECTS,
    }[kind]
    header, first, *_rest = rows.splitlines()
    cols = header.split(",")
    cells = first.split(",")
    if column in cols:
        cells[cols.index(column)] = value
    else:
        cols.append(column)
        cells.append(value)
    text = ",".join(cols) + "\n" + ",".join(cells) + "\n"
    if kind == "subjects":
        text = text.replace("P001", "P009")
    before = counts(lab)
    lines = failure(lab, tmp_path, kind, text)
    assert lines[0].startswith(f"{kind}.csv:2:{column}: "), lines
    assert counts(lab) == before


def test_samples_file_unchanged_still_loads(lab: Lab, tmp_path: Path) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    assert load(lab, tmp_path, "samples", SAMPLES, create_locations=True).created == 3


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("20240111", "write 2024-01-11"),
        ("45302", "day number"),
        ("1704931200", "Unix timestamp"),
        ("0001-01-01 10:00", "before 1900-01-01"),
        ("1066-10-14", "before 1900-01-01"),
        ("2199-01-01", "in the future"),
        ("9999-12-31 23:59", "in the future"),
        ("11/01/2024", "is not a date"),
        ("2024-13-01", "collected_at: "),
    ],
)
def test_collection_dates_iso_and_plausible(
    lab: Lab, tmp_path: Path, value: str, hint: str
) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    text = f"{SAMPLE_HEAD}tube\nX1,plasma,{value},S1,P001,baseline,k2edta\n"
    lines = failure(lab, tmp_path, "samples", text)
    assert lines[0].startswith("samples.csv:2:collected_at: "), lines
    assert hint in lines[0]


@pytest.mark.parametrize(
    ("kind", "column", "value"),
    [
        ("readouts", "measured_on", "20240305"),
        ("readouts", "measured_on", "1704931200"),
        ("readouts", "measured_on", "2199-03-05"),
        ("isolations", "isolated_on", "45302"),
        ("isolations", "isolated_on", "1066-03-02"),
        ("subjects", "enrolled_on", "1704931200"),
        ("cell_sources", "mycoplasma_tested_on", "9999-01-01"),
    ],
)
def test_dates_of_every_kind(lab: Lab, tmp_path: Path, kind: str, column: str, value: str) -> None:
    test_every_kind_refuses_non_finite_numbers(lab, tmp_path, kind, column, value)


def test_dates_with_surrounding_spaces_are_read_in_every_kind(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    text = READOUTS.replace(",2024-03-05,", ", 2024-03-05 ,")
    assert load(lab, tmp_path, "readouts", text).created == 4
    text = (
        "isolation_id,sample_id,isolated_on,method,input_volume_ml\nI9,P001-V1, 2024-03-02 ,sec,1\n"
    )
    assert load(lab, tmp_path, "isolations", text).created == 1


def test_earliest_date_is_configurable(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    monkeypatch.setenv("EXOLAB_EARLIEST_DATE", "1850-01-01")
    text = f"{SAMPLE_HEAD}tube\nX1,plasma,1890-05-01 09:00,S1,P001,baseline,k2edta\n"
    assert load(lab, tmp_path, "samples", text).created == 1


def test_iso_forms_accepted(lab: Lab, tmp_path: Path) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    text = f"{SAMPLE_HEAD}processed_at\n"
    for i, (c, p) in enumerate(
        [
            ("2024-01-11", "2024-01-11T10:00"),
            ("2024-01-11T10:41:05", "2024-01-11 11:00:00.5"),
            ("2024-01-11 10:41+01:00", "2024-01-11T10:00Z"),
        ]
    ):
        text += f"X{i},plasma,{c},S1,P001,v{i},{p}\n"
    assert load(lab, tmp_path, "samples", text).created == 3


@pytest.mark.parametrize("char", ["\x01", "\x07", "\x1b", "\x7f", "\x85"])
def test_text_refuses_control_characters(lab: Lab, tmp_path: Path, char: str) -> None:
    text = f"study,subject_id,diagnosis,notes\nS1,P001,PDAC,fine\nS1,P002,PDAC,a{char}b\n"
    lines = failure(lab, tmp_path, "subjects", text)
    assert lines[0].startswith("subjects.csv:3:notes: contains the control character"), lines
    assert counts(lab)[0] == 0


def test_readout_notes_refuse_control_characters(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    text = READOUTS.replace("qc\n", "qc,notes\n", 1).replace(",pass\n", ",pass,ok\x07\n", 1)
    lines = failure(lab, tmp_path, "readouts", text)
    assert lines[0].startswith("readouts.csv:2:notes: contains the control character"), lines


def test_tabs_and_line_breaks_are_text(lab: Lab, tmp_path: Path) -> None:
    text = 'study,subject_id,notes\nS1,P001,"a\tb\r\nc"\n'
    assert load(lab, tmp_path, "subjects", text).created == 1


def test_dot_thousands_are_ambiguous_in_every_numeric_column_of_a_semicolon_file(
    lab: Lab, tmp_path: Path
) -> None:
    """docs/import-formats.md: in a ';' file ',' is the decimal mark and '1.000' is refused as
    ambiguous. The value column did so, but lod/uloq, volume_ml or spin1_g read '2.500' as
    2.5 (a German 2500 g spin stored as 2.5 g). Every numeric column now refuses it; a
    decimal comma and a plain '.' decimal that is no thousands group still read."""
    base_cohort(lab, tmp_path)
    samples = (
        "sample_id;biofluid;collected_at;study;subject_id;visit;volume_ml;spin1_g;spin1_min\n"
        "X1;plasma;2024-01-11 10:00;S1;P001;baseline;1.500;2.500;15\n"
        "X2;plasma;2024-01-11 10:00;S1;P001;baseline;1,5;2500;12.5\n"
    )
    lines = failure(lab, tmp_path, "samples", samples)
    assert [line.split(": ")[0] for line in lines] == [
        "samples.csv:2:volume_ml",
        "samples.csv:2:spin1_g",
    ], lines
    assert all("ambiguous" in line for line in lines)
    readouts = (
        "isolation_id;analyte;value;unit;assay;run_id;replicate;lod;uloq\n"
        "ISO-1;CD63;0,25;pg/mL;elisa;R9;1;1.000;5,5\n"
        "ISO-1;CD63;0,5;pg/mL;elisa;R9;2;0,1;2.5\n"
    )
    lines = failure(lab, tmp_path, "readouts", readouts)
    assert len(lines) == 1 and lines[0].startswith("readouts.csv:2:lod: "), lines
    assert "ambiguous" in lines[0]
    assert counts(lab)[1] == 3
    rep = load(lab, tmp_path, "samples", samples.replace("1.500;2.500", "1,5;2500"))
    assert rep.created == 2
