"""Tests for exolab.domain.units."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exolab.domain.units import UnitError, can_convert, convert, normalize_unit


@pytest.mark.parametrize(
    ("text", "ucum"),
    [
        ("pg/ml", "pg/mL"),
        ("pg/mL", "pg/mL"),
        ("PG/ML", "pg/mL"),
        ("ng/ml", "ng/mL"),
        ("µg/mL", "ug/mL"),  # micro sign
        ("μg/mL", "ug/mL"),  # greek mu
        ("ug/ml", "ug/mL"),
        ("mg/ml", "mg/mL"),
        ("mg/dl", "mg/dL"),
        ("mg per dl", "mg/dL"),
        ("g/dl", "g/dL"),
        ("g/l", "g/L"),
        ("ng/L", "ng/L"),
        ("particles/mL", "/mL"),
        ("particles/ml", "/mL"),
        ("p/mL", "/mL"),
        ("particles per ml", "/mL"),
        ("Particles / ml", "/mL"),
        ("/ml", "/mL"),
        ("1/mL", "/mL"),
        ("particles/uL", "/uL"),
        ("copies/µL", "{copies}/uL"),
        ("copies/uL", "{copies}/uL"),
        ("copies/ml", "{copies}/mL"),
        ("Ct", "{Ct}"),
        ("Cq", "{Ct}"),
        ("CT", "{Ct}"),
        ("nm", "nm"),
        ("nanometers", "nm"),
        ("%", "%"),
        ("percent", "%"),
        ("U/ml", "U/mL"),
        ("u/l", "U/L"),
        ("IU/mL", "[IU]/mL"),
        ("mIU/mL", "m[IU]/mL"),
        ("mmol/l", "mmol/L"),
        ("umol/L", "umol/L"),
        ("nM", "nmol/L"),
        ("mM", "mmol/L"),
        ("10^3/µL", "10*3/uL"),
        ("x10^3/uL", "10*3/uL"),
        ("x 10^9 / L", "10*9/L"),
        ("10*6/mL", "10*6/mL"),
        ("sec", "s"),
        ("seconds", "s"),
        ("min", "min"),
        ("hours", "h"),
        ("°C", "Cel"),
        ("particles/ug", "{particles}/ug"),
        ("particles/µg protein", "{particles}/ug"),
        ("{particles}/ug", "{particles}/ug"),
        ("a.u.", "[arb'U]"),
        ("pH", "[pH]"),
        ("[pH]", "[pH]"),
        # valid UCUM passes through unchanged, case-sensitively
        ("ng/mL/h", "ng/mL/h"),
        ("10*3/uL", "10*3/uL"),
        ("mmol/mol", "mmol/mol"),
        ("{RFU}", "{RFU}"),
        ("kg", "kg"),
        ("  ng/mL ", "ng/mL"),
    ],
)
def test_normalize_unit(text: str, ucum: str) -> None:
    assert normalize_unit(text) == ucum


@pytest.mark.parametrize("text", ["foo", "ng/foo", "pg per bucket", "mg/dx", "ng mL", "x"])
def test_unknown_unit(text: str) -> None:
    with pytest.raises(UnitError) as excinfo:
        normalize_unit(text)
    assert str(excinfo.value) == (
        f"unknown unit {text.strip()!r}; use a UCUM unit such as pg/mL, ng/mL, ug/mL, /mL, "
        "{copies}/uL, {Ct}, nm, %, U/mL, mg/dL"
    )
    assert isinstance(excinfo.value, ValueError)


def test_empty_unit() -> None:
    with pytest.raises(UnitError, match="empty unit"):
        normalize_unit("  ")


@pytest.mark.parametrize(
    ("value", "src", "dst", "expected"),
    [
        (1.0, "ng/mL", "pg/mL", 1000.0),
        (1.1, "ng/mL", "pg/mL", 1100.0),
        (1100.0, "pg/mL", "ng/mL", 1.1),
        (0.3, "ug/mL", "ng/mL", 300.0),
        (2.5, "mg/mL", "ug/mL", 2500.0),
        (100.0, "mg/dL", "g/L", 1.0),
        (1.0, "mg/dL", "mg/mL", 0.01),
        (7.0, "g/dL", "g/L", 70.0),
        (1.0, "mg/L", "ug/mL", 1.0),
        (1.0, "ug/L", "ng/mL", 1.0),
        (1.0, "ng/L", "pg/mL", 1.0),
        (3.0, "/uL", "/mL", 3000.0),
        (1e9, "/mL", "/L", 1e12),
        (2.0, "10*3/uL", "/mL", 2_000_000.0),
        (5.0, "10*6/mL", "/mL", 5_000_000.0),
        (1.5, "10*9/mL", "10*6/mL", 1500.0),
        (4.0, "10*9/L", "10*3/uL", 4.0),
        (1.0, "{copies}/uL", "{copies}/mL", 1000.0),
        (120.0, "nm", "um", 0.12),
        (0.1, "um", "nm", 100.0),
        (2.0, "h", "min", 120.0),
        (90.0, "s", "min", 1.5),
        (1.0, "mL", "uL", 1000.0),
        (5.0, "mmol/L", "umol/L", 5000.0),
        (1.0, "U/mL", "U/L", 1000.0),
        (50.0, "%", "1", 0.5),
        (1.0, "particles/mL", "/L", 1000.0),  # spellings are normalised first
        (1e10, "{particles}/ug", "/ug", 1e10),
        (3.0, "pg/mL", "pg/mL", 3.0),
    ],
)
def test_convert(value: float, src: str, dst: str, expected: float) -> None:
    result = convert(value, src, dst)
    assert result == expected
    assert isinstance(result, float)
    assert can_convert(src, dst)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("ng/mL", "{copies}/uL"),
        ("ng/mL", "/mL"),
        ("{copies}/uL", "/uL"),
        ("{Ct}", "%"),
        ("nm", "ng/mL"),
        ("U/mL", "[IU]/mL"),
        ("Cel", "Cel/h"),
    ],
)
def test_not_commensurable(src: str, dst: str) -> None:
    assert not can_convert(src, dst)
    with pytest.raises(UnitError, match="cannot convert"):
        convert(1.0, src, dst)


def test_unknown_unit_in_conversion() -> None:
    assert not can_convert("foo", "ng/mL")
    with pytest.raises(UnitError, match="unknown unit 'foo'"):
        convert(1.0, "foo", "ng/mL")


def test_nonfinite_values_pass_through() -> None:
    assert math.isinf(convert(math.inf, "ng/mL", "pg/mL"))
    assert math.isnan(convert(math.nan, "ng/mL", "pg/mL"))


mass_units = st.sampled_from(["pg/mL", "ng/mL", "ug/mL", "mg/mL", "mg/dL", "g/L", "ng/L", "ug/L"])


@given(
    st.floats(min_value=1e-6, max_value=1e12, allow_nan=False),
    mass_units,
    mass_units,
)
def test_mass_round_trip(value: float, a: str, b: str) -> None:
    back = convert(convert(value, a, b), b, a)
    assert back == pytest.approx(value, rel=1e-15)


@given(st.integers(min_value=0, max_value=10**9))
def test_integer_mass_conversion_is_exact(value: int) -> None:
    assert convert(float(value), "ng/mL", "pg/mL") == value * 1000


def test_common_units_known_without_the_parser_are_valid_ucum() -> None:
    """is_ucum answers these from a set, without building the parser: each must be one the
    parser accepts, and normalising it must give it back unchanged."""
    from exolab.domain import units

    assert len(units._COMMON_UCUM) > 40
    for code in sorted(units._COMMON_UCUM):
        assert units._is_ucum(code), code
        assert units.normalize_unit(code) == code, code
