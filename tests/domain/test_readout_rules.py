"""The readout rules of domain/readout_rules.py and the column checks of
domain/readout_columns.py agree with ReadoutIn, the model every per-record write validates
with (docs/bulk-imports.md, "Readouts: one pipeline")."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from exolab.domain.readout_columns import ColumnCheck, Invalid
from exolab.domain.readout_rules import (
    key_text,
    parse_key_text,
    run_mismatch,
    target_and_value,
)
from exolab.domain.schemas import ReadoutIn, field_errors
from exolab.domain.values import parse_result

BASE = {"isolation_id": "ISO-1", "analyte": "CD63", "value": "5", "unit": "pg/mL",
        "assay": "elisa"}  # fmt: skip
CELLS = {
    "unit": ["pg/mL", "ng/ml", "furlongs", " ug/mL "],
    "assay": ["elisa", "EIA", "badassay"],
    "replicate": ["1", "0", "2.5", "x", "3"],
    "lod": ["0.5", "-1", "abc", "1e3"],
    "dilution_factor": ["2", "0", "-3"],
    "measured_on": ["2024-03-10", "2024-13-10", "20240310"],
    "qc": ["pass", "notaqc", "FAIL"],
    "run_id": ["R-1", "bad run", "a/b"],
    "well": ["A1", "x" * 70],
}


def _model_value(column: str, text: str) -> Any:
    try:
        return getattr(ReadoutIn.model_validate(BASE | {column: text}), column)
    except ValidationError as exc:
        return Invalid("; ".join(m for f, m in field_errors(exc) if f == column))


@pytest.mark.parametrize("column", sorted(CELLS))
def test_a_column_check_accepts_and_refuses_what_readoutin_does(column: str) -> None:
    check = ColumnCheck(column)
    for text in CELLS[column]:
        model, alone = _model_value(column, text), check(text)
        if isinstance(model, Invalid):
            assert isinstance(alone, Invalid), (column, text, alone)
            assert alone.message == model.message, (column, text)
        else:
            assert alone == model, (column, text)


def test_the_rule_across_fields_is_readoutins() -> None:
    numeric, call = parse_result("5"), parse_result("detected")
    assert target_and_value(True, True, "pg/mL", numeric) == (
        "isolation_id",
        "give exactly one of isolation_id or sample_id",
    )
    assert target_and_value(False, False, "pg/mL", numeric) is not None
    assert target_and_value(True, False, None, numeric) == ("unit", "required for a numeric result")
    assert target_and_value(False, True, None, call) is None
    with pytest.raises(ValidationError) as exc:
        ReadoutIn.model_validate(BASE | {"unit": ""})
    assert field_errors(exc.value) == [("unit", "required for a numeric result")]


def test_key_and_run_rules() -> None:
    assert key_text("ISO-1", "CD63", "elisa", None, 2) == "ISO-1/CD63/elisa//2"
    assert parse_key_text("ISO-1/CD63/elisa//2") == ("ISO-1", "CD63", "elisa", "", 2)
    assert run_mismatch("R1", None, "elisa") is None
    assert run_mismatch("R1", "elisa", "elisa") is None
    assert run_mismatch("R1", "nta", "elisa") == "run R1 belongs to assay nta, not elisa"
