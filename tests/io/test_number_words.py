"""Numbers refused in plain lab words, the same on every path: the bulk imports of records
and of readouts, the row-by-row and update paths, one record from the command line and the
UI's forms (docs/import-formats.md, "Files")."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from exolab.domain.schemas import ReadoutIn, SampleIn, SubjectIn
from exolab.services.common import validate
from exolab.services.context import Lab
from exolab.services.errors import ValidationFailed
from exolab.tui.widgets.forms import model_errors
from tests.test_cli import run

from .helpers import SAMPLES, base_cohort, failure

_SAMPLE = {
    "sample_id": "X-1",
    "biofluid": "plasma",
    "collected_at": "2024-01-11 10:41",
    "study": "S1",
    "subject_id": "P001",
    "visit": "baseline",
}
_READOUT = {
    "isolation_id": "ISO-1",
    "analyte": "CD63",
    "value": "1",
    "unit": "pg/mL",
    "assay": "elisa",
}


@pytest.mark.parametrize(
    ("model", "data", "field", "message"),
    [
        (SubjectIn, {"birth_year": "3000"}, "birth_year", "must be at most 2100"),
        (SubjectIn, {"birth_year": "1700"}, "birth_year", "must be at least 1880"),
        (SubjectIn, {"birth_year": "abc"}, "birth_year", "'abc' is not a whole number"),
        (SubjectIn, {"birth_year": "1961.5"}, "birth_year", "'1961.5' is not a whole number"),
        (SampleIn, _SAMPLE | {"volume_ml": "abc"}, "volume_ml", "'abc' is not a number"),
        (SampleIn, _SAMPLE | {"volume_ml": "-1"}, "volume_ml", "must be at least 0"),
        (
            SampleIn,
            _SAMPLE | {"volume_ml": "4,5"},
            "volume_ml",
            "'4,5' is not a number; use '.' as the decimal mark",
        ),
        (ReadoutIn, _READOUT | {"replicate": "0"}, "replicate", "must be at least 1"),
        (ReadoutIn, _READOUT | {"dilution_factor": "0"}, "dilution_factor", "must be more than 0"),
        (
            ReadoutIn,
            _READOUT | {"replicate": "99999999999"},
            "replicate",
            "must be at most 2147483647",
        ),
    ],
)
def test_the_one_rule_says_it_plainly(
    model: type, data: dict[str, str], field: str, message: str
) -> None:
    """Pydantic's "Input should be a valid number, unable to parse string as a number" and
    "Input should be less than or equal to 2100" became lab words, in the one place every
    path turns a model's refusal into problems (field_errors): the services' validate and
    the UI's form check give the same."""
    data = {"study": "S1", "subject_id": "P001"} | data if model is SubjectIn else data
    with pytest.raises(ValidationFailed) as exc:
        validate(model, data)
    assert [(e.field, e.message) for e in exc.value.errors] == [(field, message)]
    assert model_errors(model, data) == {field: message}


def test_bulk_and_row_by_row_imports_say_it_with_file_row_and_column(
    lab: Lab, tmp_path: Path
) -> None:
    text = "study,subject_id,birth_year\nS1,P001,3000\nS1,P002,abc\n"
    expected = [
        "subjects.csv:2:birth_year: must be at most 2100 (got '3000')",
        "subjects.csv:3:birth_year: 'abc' is not a whole number",
    ]
    assert failure(lab, tmp_path, "subjects", text) == expected
    assert failure(lab, tmp_path, "subjects", text, bulk=False) == expected
    out = io.StringIO()
    failure(lab, tmp_path, "subjects", text, errors_out=out)
    assert list(csv.reader(io.StringIO(out.getvalue())))[1:] == [
        ["2", "birth_year", "3000", "must be at most 2100 (got '3000')"],
        ["3", "birth_year", "abc", "'abc' is not a whole number"],
    ]


def test_samples_bulk_and_update_files_say_it(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    header = SAMPLES.splitlines()[0]
    text = header + "\nP001-V9,plasma,2024-01-11 10:41,S1,P001,baseline,k2edta,abc,\n"
    assert failure(lab, tmp_path, "samples", text) == [
        "samples.csv:2:volume_ml: 'abc' is not a number"
    ]
    update = "sample_id,volume_ml\nP001-V1,-2\n"
    assert failure(lab, tmp_path, "samples", update, on_duplicate="update") == [
        "samples.csv:2:volume_ml: must be at least 0 (got '-2')"
    ]


def test_readouts_bulk_says_it(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    text = (
        "isolation_id,analyte,value,unit,assay,run_id,replicate,dilution_factor\n"
        "ISO-1,CD63,1,pg/mL,elisa,R1,0,\n"
        "ISO-1,CD63,1,pg/mL,elisa,R2,1,abc\n"
    )
    lines = failure(lab, tmp_path, "readouts", text)
    assert "readouts.csv:2:replicate: must be at least 1 (got '0')" in lines
    assert "readouts.csv:3:dilution_factor: 'abc' is not a number" in lines
    assert not [line for line in lines if "Input should" in line]


def test_one_record_from_the_command_line_says_it(db_url: str, tmp_path: Path) -> None:
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("study,subject_id\nS1,P001\n", encoding="utf-8")
    assert run("--db", db_url, "import", "subjects", str(subjects)).returncode == 0
    r = run(
        "--db", db_url, "readout", "add", "--sample-id", "NOPE", "--analyte", "CD63",
        "--value", "1", "--unit", "pg/mL", "--replicate", "0",
    )  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "replicate: must be at least 1" in r.stderr
    assert "Input should" not in r.stderr
