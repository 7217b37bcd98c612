"""Tests for exolab.domain.values."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exolab.domain.values import (
    RESULT_MAGNITUDE_MAX,
    ParsedResult,
    ResultValueError,
    format_result,
    parse_result,
    plain_number,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12.5", 12.5),
        ("0", 0.0),
        ("  7 ", 7.0),
        ("+3", 3.0),
        ("-2.5", -2.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1.2e9", 1.2e9),
        ("1.2E+09", 1.2e9),
        ("3.4e-3", 0.0034),
        ("1.2x10^9", 1.2e9),
        ("1.2 × 10^9", 1.2e9),
        ("2*10^-3", 0.002),
    ],
)
def test_plain_numbers(text: str, value: float) -> None:
    p = parse_result(text)
    assert p == ParsedResult(text.strip(), value, "=", "none", None)
    assert not p.is_censored


@pytest.mark.parametrize(
    ("text", "value"),
    [("1,5", 1.5), ("0,25", 0.25), ("1,2E+09", 1.2e9), ("1.5", 1.5), ("12", 12.0), ("-0,5", -0.5)],
)
def test_decimal_comma(text: str, value: float) -> None:
    assert parse_result(text, decimal_comma=True).value == value


@pytest.mark.parametrize("text", ["1,5", "1,000", "1 000", "1'000", "1.000,5"])
def test_comma_rejected_without_decimal_comma(text: str) -> None:
    with pytest.raises(ResultValueError, match=r"use '\.' as the decimal mark"):
        parse_result(text)


@pytest.mark.parametrize("text", ["1.234,5", "1,234,5", "1 234,5"])
def test_thousands_separators_rejected_with_decimal_comma(text: str) -> None:
    with pytest.raises(ResultValueError, match="use ',' as the decimal mark"):
        parse_result(text, decimal_comma=True)


@pytest.mark.parametrize("text", ["1.000", "12.345", "1.234.567"])
def test_dot_that_looks_like_thousands_is_ambiguous_with_decimal_comma(text: str) -> None:
    with pytest.raises(ResultValueError, match="ambiguous"):
        parse_result(text, decimal_comma=True)
    if text.count(".") == 1:
        assert parse_result(text).value == float(text)


@pytest.mark.parametrize(
    ("text", "value", "comparator", "censor"),
    [
        ("<0.5", 0.5, "<", "lt_lod"),
        ("< 0.5", 0.5, "<", "lt_lod"),
        ("<=0.5", 0.5, "<=", "lt_lod"),
        ("≤0.5", 0.5, "<=", "lt_lod"),
        ("=<0.5", 0.5, "<=", "lt_lod"),
        (">1000", 1000.0, ">", "gt_uloq"),
        (">=1000", 1000.0, ">=", "gt_uloq"),
        ("≥1e4", 1e4, ">=", "gt_uloq"),
        (">2.5E+10", 2.5e10, ">", "gt_uloq"),
    ],
)
def test_censored_numbers(text: str, value: float, comparator: str, censor: str) -> None:
    p = parse_result(text)
    assert (p.value, p.comparator, p.censor, p.qualitative) == (value, comparator, censor, None)
    assert p.is_censored
    assert p.text == text


def test_less_than_lloq_value_is_lt_lloq() -> None:
    assert parse_result("<0.5", lloq=0.5).censor == "lt_lloq"
    assert parse_result("<=0.5", lloq=0.5).censor == "lt_lloq"
    assert parse_result("<0.4", lloq=0.5).censor == "lt_lod"
    assert parse_result("<0.5", lod=0.5).censor == "lt_lod"


def test_censored_with_decimal_comma() -> None:
    p = parse_result("<0,5", decimal_comma=True)
    assert (p.value, p.comparator, p.censor) == (0.5, "<", "lt_lod")


@pytest.mark.parametrize(
    ("text", "censor", "comparator", "value"),
    [
        ("<LOD", "lt_lod", "<", 0.1),
        ("< lod", "lt_lod", "<", 0.1),
        ("<=LOD", "lt_lod", "<=", 0.1),
        ("below LOD", "lt_lod", "<", 0.1),
        ("<LLOQ", "lt_lloq", "<", 0.3),
        ("<LOQ", "lt_lloq", "<", 0.3),
        ("BLQ", "lt_lloq", "<", 0.3),
        ("BLOQ", "lt_lloq", "<", 0.3),
        ("OOR <", "lt_lloq", "<", 0.3),
        (">ULOQ", "gt_uloq", ">", 900.0),
        (">ULQ", "gt_uloq", ">", 900.0),
        ("ALQ", "gt_uloq", ">", 900.0),
        ("OOR >", "gt_uloq", ">", 900.0),
    ],
)
def test_limit_words(text: str, censor: str, comparator: str, value: float) -> None:
    with_limits = parse_result(text, lod=0.1, lloq=0.3, uloq=900.0)
    assert with_limits == ParsedResult(text, value, comparator, censor, None)
    without_limits = parse_result(text)
    assert without_limits == ParsedResult(text, None, comparator, censor, None)
    assert without_limits.is_censored


@pytest.mark.parametrize("text", ["ND", "nd", "n.d.", "N.D.", "not detected", "Not  Detected"])
def test_not_detected_words(text: str) -> None:
    assert parse_result(text) == ParsedResult(text, None, "<", "not_detected", "not_detected")
    assert parse_result(text, lod=2.0).value == 2.0


@pytest.mark.parametrize("text", ["Undetermined", "undetermined", "NaN", "nan", "No Ct", "No Cq"])
def test_qpcr_not_detected(text: str) -> None:
    # No amplification: the Ct is above the cycle limit (censored above, not below)
    p = parse_result(text, lod=40.0)
    assert p == ParsedResult(text, 40.0, ">", "not_detected", None)
    assert p.is_censored
    assert parse_result(text).value is None


@pytest.mark.parametrize("text", ["Undetermined", "NaN", "No Ct", "ND", "not detected"])
def test_not_detected_direction_follows_the_unit(text: str) -> None:
    # a Ct that never crossed the threshold is above the cycles; an amount is below its limit
    assert parse_result(text, lod=40.0, unit="{Ct}").comparator == ">"
    assert parse_result(text, lod=0.5, unit="copies/uL").comparator == "<"
    assert parse_result(text, lod=0.5, unit="copies/uL").censor == "not_detected"


@pytest.mark.parametrize(
    ("text", "qualitative"),
    [
        ("detected", "detected"),
        ("Detected", "detected"),
        ("positive", "positive"),
        ("POS", "positive"),
        ("+", "positive"),
        ("negative", "negative"),
        ("neg", "negative"),
        ("-", "negative"),
    ],
)
def test_qualitative(text: str, qualitative: str) -> None:
    p = parse_result(text, lod=1.0)
    assert p == ParsedResult(text, None, "=", "none", qualitative)
    assert not p.is_censored


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_empty(text: str) -> None:
    with pytest.raises(ResultValueError, match=r"^empty value$"):
        parse_result(text)


@pytest.mark.parametrize("text", ["N/A", "n/a", "NA", "null"])
def test_not_a_result(text: str) -> None:
    with pytest.raises(ResultValueError, match="is not a result"):
        parse_result(text)


@pytest.mark.parametrize(
    "text",
    ["abc", "12 pg/mL", "1e999", "inf", "-inf", "1_000", "<abc", ">LOD", "<ULOQ", "++1", "<"],
)
def test_garbage(text: str) -> None:
    with pytest.raises(ResultValueError) as excinfo:
        parse_result(text)
    assert str(excinfo.value) == (
        f"cannot read {text!r} as a number, a censored value (<0.5, <LOD, >ULOQ, ND, "
        "Undetermined) or a qualitative result (detected, not detected, positive, negative)"
    )
    assert isinstance(excinfo.value, ValueError)


def test_unicode_digits_are_not_numbers() -> None:
    with pytest.raises(ResultValueError):
        parse_result("١٢")


def test_parsed_result_is_frozen_and_comparable() -> None:
    p = parse_result("1.5")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.value = 2.0  # type: ignore[misc]
    assert p == ParsedResult("1.5", 1.5)
    assert hash(p) == hash(ParsedResult("1.5", 1.5))
    assert dataclasses.asdict(p) == {
        "text": "1.5",
        "value": 1.5,
        "comparator": "=",
        "censor": "none",
        "qualitative": None,
    }


@pytest.mark.parametrize(
    ("text", "kwargs", "shown"),
    [
        ("12.50", {}, "12.5"),
        ("100", {}, "100"),
        ("1.2E+09", {}, "1.2e+9"),
        ("0.00001", {}, "0.00001"),
        ("0.000001", {}, "1e-6"),
        ("1234567", {}, "1234567"),
        ("12345678", {}, "1.2345678e+7"),
        ("<0.50", {}, "<0.5"),
        ("<=0.5", {}, "<=0.5"),
        (">1000", {}, ">1000"),
        ("<LOD", {}, "<LOD"),
        ("<LOD", {"lod": 0.2}, "<0.2"),
        ("BLQ", {}, "<LLOQ"),
        ("ALQ", {}, ">ULOQ"),
        ("n.d.", {}, "not detected"),
        ("n.d.", {"lod": 0.1}, "not detected (<0.1)"),
        ("Undetermined", {}, "ND"),
        ("NaN", {"lod": 40.0}, "ND (>40)"),
        ("pos", {}, "positive"),
        ("-", {}, "negative"),
        ("detected", {}, "detected"),
    ],
)
def test_format_result(text: str, kwargs: dict[str, float], shown: str) -> None:
    assert format_result(parse_result(text, **kwargs)) == shown


@given(st.floats(min_value=-RESULT_MAGNITUDE_MAX, max_value=RESULT_MAGNITUDE_MAX))
def test_numbers_round_trip_through_text(value: float) -> None:
    p = parse_result(repr(value))
    assert p.value == value
    again = parse_result(format_result(p))
    assert again.value == value
    assert again.comparator == "="


@given(st.floats(min_value=RESULT_MAGNITUDE_MAX, exclude_min=True, allow_infinity=False))
def test_numbers_beyond_the_result_range_are_refused(value: float) -> None:
    for text in (repr(value), repr(-value), f"<{value!r}", f">{value!r}"):
        with pytest.raises(ResultValueError, match="too large for a result"):
            parse_result(text)
    assert plain_number(repr(value)) is None


@given(
    st.sampled_from(["<", "<=", ">", ">="]),
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
)
def test_censored_round_trip_through_text(comparator: str, value: float) -> None:
    p = parse_result(f"{comparator}{value!r}")
    again = parse_result(format_result(p))
    assert (again.value, again.comparator, again.censor) == (p.value, comparator, p.censor)


@given(st.text(max_size=20))
def test_any_text_parses_or_raises_result_value_error(text: str) -> None:
    try:
        p = parse_result(text)
    except ResultValueError as exc:
        assert str(exc)
    else:
        assert p.text == text.strip()
        assert p.value is None or math.isfinite(p.value)
        assert p.comparator in ("=", "<", "<=", ">", ">=")
        assert p.censor in ("none", "lt_lod", "lt_lloq", "gt_uloq", "not_detected")


def test_plain_numbers_are_fast() -> None:
    texts = [f"{i * 0.37:.3f}" for i in range(100_000)]
    start = time.perf_counter()
    for text in texts:
        parse_result(text)
    elapsed = time.perf_counter() - start
    # about 2 us per value on a slow CI core; the bound leaves a wide margin
    assert elapsed < 3.0
