"""What a column can hold is a row problem, on both databases and both import paths.

SQLite stores a text longer than its column and an integer of any size; PostgreSQL refuses
them (``value too long``, ``integer out of range``) and its binary COPY would keep only the
low 32 bits of an integer. So the input models bound every field by its column, and an import
reports FILE:ROW:COLUMN with nothing written instead of a database refusal or a wrapped
number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Integer, String

from exolab.db import models
from exolab.domain import schemas, values
from exolab.services.context import Lab

from .helpers import ISOLATIONS, SAMPLES, SUBJECTS, counts, failure, load

# input model -> its table; fields stored under another column name
STORED_IN: list[tuple[type[BaseModel], type[models.Base], dict[str, str]]] = [
    (schemas.SubjectIn, models.Subject, {}),
    (schemas.CellSourceIn, models.CellSource, {}),
    (schemas.SampleIn, models.Sample, {}),
    (schemas.IsolationIn, models.Isolation, {}),
    (schemas.StepIn, models.IsolationStep, {}),
    (schemas.ReadoutIn, models.Readout, {"value": "value_text", "run_id": "run_code"}),
]


def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = (
        Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    )
    return TypeAdapter(annotation)


def _accepts(adapter: TypeAdapter[Any], value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except (ValidationError, ValueError):
        return None


def test_every_field_is_bounded_by_its_column() -> None:
    checked, too_wide = 0, []
    for model, table, renamed in STORED_IN:
        columns = {c.name: c for c in table.__table__.columns}
        for name in model.model_fields:
            column = columns.get(renamed.get(name, name))
            if column is None or (model, name) == (schemas.ReadoutIn, "value"):
                continue  # (a result's text is bounded where it is read: parse_result)
            adapter = _adapter(model, name)
            if isinstance(column.type, String) and column.type.length:
                n = column.type.length
                checked += 1
                for probe in ("A" * (n + 1), "a" * (n + 1), "1" * (n + 1)):
                    got = _accepts(adapter, probe)
                    if isinstance(got, str) and len(got) > n:
                        too_wide.append(f"{model.__name__}.{name} > {table.__tablename__}({n})")
                        break
            elif isinstance(column.type, Integer):
                checked += 1
                for probe in (2**31, -(2**31) - 1):
                    if isinstance(_accepts(adapter, str(probe)), int):
                        too_wide.append(f"{model.__name__}.{name} takes {probe}")
    assert checked > 40  # the pairs above really matched columns
    assert too_wide == []
    assert models.Readout.__table__.c.value_text.type.length == values.RESULT_TEXT_MAX
    with pytest.raises(values.ResultValueError, match="longer than 64 characters"):
        values.parse_result("1" * 65)


LONG = "x" * 129


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "per-record"])
def test_too_long_for_the_column_is_a_row_problem(lab: Lab, tmp_path: Path, bulk: bool) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    load(lab, tmp_path, "samples", SAMPLES, create_locations=True)
    iso = (
        "isolation_id,sample_id,isolated_on,method,input_volume_ml,resuspension_buffer\n"
        "ISO-1,P001-V1,2024-03-02,sec,0.5,PBS\n"
        f"ISO-2,P001-V2,2024-05-02,sec,0.5,{LONG}\n"
    )
    lines = failure(lab, tmp_path, "isolations", iso, bulk=bulk)
    assert lines == [
        "isolations.csv:3:resuspension_buffer: String should have at most 128 characters"
    ], lines
    load(lab, tmp_path, "isolations", ISOLATIONS, bulk=bulk)
    readouts = (
        "isolation_id,sample_id,analyte,value,unit,assay,run_id,replicate,antibody\n"
        "ISO-1,,CD63,12.5,pg/mL,elisa,R1,1,\n"
        f"ISO-1,,CD63,12.5,pg/mL,elisa,R1,2,{LONG}\n"
        f"ISO-1,,CD63,{'1' * 65},pg/mL,elisa,R1,3,\n"
        "ISO-1,,CD63,12.5,pg/mL,elisa,R1,2147483648,\n"
    )
    lines = failure(lab, tmp_path, "readouts", readouts, bulk=bulk)
    assert lines == [
        "readouts.csv:3:antibody: String should have at most 128 characters",
        "readouts.csv:4:value: longer than 64 characters",
        "readouts.csv:5:replicate: must be at most 2147483647 (got '2147483648')",
    ], lines
    assert counts(lab)[2] == 0


def test_a_birth_year_or_passage_past_32_bits_is_refused(lab: Lab, tmp_path: Path) -> None:
    text = "cell_source_id,cell_type,passage\nCS-1,mesenchymal stromal cells,4294967297\n"
    lines = failure(lab, tmp_path, "cell_sources", text)
    assert len(lines) == 1
    assert lines[0].startswith("cell_sources.csv:2:passage: must be at most 2147483647"), lines
