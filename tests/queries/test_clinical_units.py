"""Units found in clinical laboratory data: accepted as UCUM, converted exactly."""

from __future__ import annotations

import pytest

from exolab.domain.units import convert, normalize_unit


@pytest.mark.parametrize(
    ("text", "ucum"),
    [
        ("mg/dL", "mg/dL"),
        ("U/L", "U/L"),
        ("10*3/uL", "10*3/uL"),
        ("10^3/µL", "10*3/uL"),
        ("x10E3/uL", "10*3/uL"),
        ("K/uL", "10*3/uL"),
        ("M/uL", "10*6/uL"),
        ("s", "s"),
        ("sec", "s"),
        ("mEq/L", "meq/L"),
        ("mcg/dL", "ug/dL"),
        ("mmHg", "mm[Hg]"),
        ("cells/uL", "{cells}/uL"),
        ("Units/L", "U/L"),
        ("mL/min/1.73m2", "mL/min/{1.73_m2}"),
        ("INR", "{INR}"),
        ("mm/hr", "mm/h"),
        ("fL", "fL"),
        ("g/L", "g/L"),
        ("mmol/L", "mmol/L"),
        ("[IU]/L", "[IU]/L"),
    ],
)
def test_clinical_units_are_accepted(text: str, ucum: str) -> None:
    assert normalize_unit(text) == ucum


def test_clinical_conversions() -> None:
    assert convert(1.0, "g/dL", "mg/dL") == 1000.0
    assert convert(250.0, "K/uL", "10*9/L") == 250.0
    assert convert(2.0, "min", "s") == 120.0
    assert convert(1000.0, "U/L", "U/mL") == 1.0
    assert convert(5.0, "mcg/dL", "ug/L") == 50.0
