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
    text = f"{SAMPLE_HEAD}storage_temp_c,spin1_g\nX1,plasma,2024-01-11 10:00,S1,P001,baseline,-196,1e5\n"
    assert load(lab, tmp_path, "samples", text).created == 1


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
    assert load(lab, tmp_path, "samples", SAMPLES).created == 3
