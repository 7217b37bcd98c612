"""Result values: numbers, censored values and qualitative results as lab staff write them.

``parse_result`` is called once per row of large imports, so plain numbers take a fast path
through ``float()`` and everything else uses precompiled patterns.

How each form is stored (the original text is always kept, stripped, in ``text``), as
value / comparator / censor / qualitative:

- ``12.5``, ``1.2e9``, ``1.2E+09``, ``1.2x10^9``: the number / ``=`` / none / None
- ``<0.5``, ``<=0.5``: 0.5 / ``<`` or ``<=`` / lt_lod (lt_lloq when 0.5 equals ``lloq``) / None
- ``>1000``, ``>=1000``: 1000 / ``>`` or ``>=`` / gt_uloq / None
- ``<LOD``: lod / ``<`` / lt_lod / None
- ``<LLOQ``, ``<LOQ``, ``BLQ``, ``BLOQ``, ``OOR <``: lloq / ``<`` / lt_lloq / None
- ``>ULOQ``, ``>ULQ``, ``ALQ``, ``OOR >``: uloq / ``>`` / gt_uloq / None
- ``ND``, ``n.d.``, ``not detected``: lod / ``<`` / not_detected / not_detected
- ``Undetermined``, ``NaN``, ``No Ct`` (qPCR software): lod / ``>`` / not_detected / None:
  an undetected target has a *high* Ct (it did not cross the threshold within the run's
  cycles), so its limit is a cycle count it is above; "ND" on a result in the unit ``{Ct}``
  is read the same way (docs/instruments.md). On a result in any other unit (a copy number
  or concentration the software could not determine) not detected is *below* the limit,
  ``<``, whichever word was used
- ``detected``, ``positive``, ``pos``, ``+``: None / ``=`` / none / detected or positive
- ``negative``, ``neg``, ``-``: None / ``=`` / none / negative

Limits that are not given leave ``value`` as None. "Not detected" is both a presence call and
a value below the detection limit, so it carries both flags; qPCR software outputs make no
presence call. "Negative" is a test outcome (a gate, a mycoplasma test), not a number below a
limit, so it is not censored. ``N/A`` is not a result and is rejected.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "CENSORS",
    "COMPARATORS",
    "CT_UNIT",
    "QUALITATIVES",
    "RESULT_MAGNITUDE_MAX",
    "RESULT_TEXT_MAX",
    "ParsedResult",
    "ResultValueError",
    "format_number",
    "format_result",
    "parse_result",
    "plain_number",
]

COMPARATORS = ("=", "<", "<=", ">", ">=")
CT_UNIT = "{Ct}"  # cycles to threshold: a higher number is less of the target
CENSORS = ("none", "lt_lod", "lt_lloq", "gt_uloq", "not_detected")
QUALITATIVES = ("detected", "not_detected", "positive", "negative")
RESULT_TEXT_MAX = 64  # the stored original text (readouts.value_text)
# The largest magnitude a result's number may have. Far above any measurement (particles or
# copies per mL stay below 1e20), and far enough below the largest float (~1.8e308) that the
# totals of a set's replicates (readout_sets) cannot overflow: two results near it made
# PostgreSQL refuse the whole import and SQLite store an infinite total (docs/import-formats.md).
RESULT_MAGNITUDE_MAX = 1e100


class ResultValueError(ValueError):
    """A result value cannot be read."""


@dataclass(frozen=True)
class ParsedResult:
    """A result as number, comparator, censor flag and qualitative call, with its text."""

    text: str
    value: float | None
    comparator: str = "="
    censor: str = "none"
    qualitative: str | None = None

    @property
    def is_censored(self) -> bool:
        """True when the value is a limit rather than a measurement (or nothing was detected)."""
        return self.censor != "none"


_new_object = object.__new__


def _plain_number(text: str, value: float) -> ParsedResult:
    """Build an uncensored ParsedResult about twice as fast as the frozen ``__init__``."""
    result = _new_object(ParsedResult)
    result.__dict__.update(text=text, value=value, comparator="=", censor="none", qualitative=None)
    return result


_GARBAGE = (
    "cannot read {!r} as a number, a censored value (<0.5, <LOD, >ULOQ, ND, Undetermined) "
    "or a qualitative result (detected, not detected, positive, negative)"
)

_FAST_START = frozenset("0123456789.+-")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)
_TIMES_TEN = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))\s*[x×*]\s*10\s*\^\s*([+-]?\d+)$", re.ASCII)
_DOT_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+$", re.ASCII)
_COMPARATOR = re.compile(r"^(<=|=<|≤|>=|=>|≥|<|>)\s*(.*)$")
_SPACES = re.compile(r"\s+")

_CANONICAL_COMPARATOR = {
    "<": "<",
    "<=": "<=",
    "=<": "<=",
    "≤": "<=",
    ">": ">",
    ">=": ">=",
    "=>": ">=",
    "≥": ">=",
}

# Limit words after a comparator: word -> (censor, comparator direction)
_LIMIT_WORDS = {
    "lod": ("lt_lod", "<"),
    "lld": ("lt_lod", "<"),
    "dl": ("lt_lod", "<"),
    "lloq": ("lt_lloq", "<"),
    "loq": ("lt_lloq", "<"),
    "lq": ("lt_lloq", "<"),
    "llq": ("lt_lloq", "<"),
    "uloq": ("gt_uloq", ">"),
    "ulq": ("gt_uloq", ">"),
    "uq": ("gt_uloq", ">"),
}

# Whole words: word -> (censor, comparator, qualitative)
_WORDS: dict[str, tuple[str, str, str | None]] = {
    "below lod": ("lt_lod", "<", None),
    "below detection limit": ("lt_lod", "<", None),
    "blq": ("lt_lloq", "<", None),
    "bloq": ("lt_lloq", "<", None),
    "below lloq": ("lt_lloq", "<", None),
    "below loq": ("lt_lloq", "<", None),
    "oor <": ("lt_lloq", "<", None),
    "alq": ("gt_uloq", ">", None),
    "aloq": ("gt_uloq", ">", None),
    "above uloq": ("gt_uloq", ">", None),
    "oor >": ("gt_uloq", ">", None),
    "nd": ("not_detected", "<", "not_detected"),
    "n.d.": ("not_detected", "<", "not_detected"),
    "n.d": ("not_detected", "<", "not_detected"),
    "not detected": ("not_detected", "<", "not_detected"),
    "none detected": ("not_detected", "<", "not_detected"),
    "not detectable": ("not_detected", "<", "not_detected"),
    "undetermined": ("not_detected", ">", None),
    "undet": ("not_detected", ">", None),
    "undet.": ("not_detected", ">", None),
    "nan": ("not_detected", ">", None),
    "no ct": ("not_detected", ">", None),
    "no cq": ("not_detected", ">", None),
    "detected": ("none", "=", "detected"),
    "positive": ("none", "=", "positive"),
    "pos": ("none", "=", "positive"),
    "pos.": ("none", "=", "positive"),
    "+": ("none", "=", "positive"),
    "negative": ("none", "=", "negative"),
    "neg": ("none", "=", "negative"),
    "neg.": ("none", "=", "negative"),
    "-": ("none", "=", "negative"),
}

_NOT_A_RESULT = frozenset({"n/a", "na", "n.a.", "not applicable", "missing", "null", "none"})


def _read_number(s: str, decimal_comma: bool) -> float | None:
    """A finite number in ``s`` (already stripped), or None if it is not one."""
    if decimal_comma and "," in s:
        if "." in s or s.count(",") > 1:
            return None
        s = s.replace(",", ".")
    if _NUMBER.match(s):
        value = float(s)
    else:
        match = _TIMES_TEN.match(s)
        if match is None:
            return None
        value = float(f"{match.group(1)}e{match.group(2)}")
    return value if math.isfinite(value) else None


def _number_error(s: str, decimal_comma: bool) -> ResultValueError | None:
    """A specific message for text that looks like a number but is written wrongly."""
    if decimal_comma and _DOT_THOUSANDS.match(s):
        return ResultValueError(
            f"{s!r} is ambiguous in a file with decimal commas: '.' looks like a thousands "
            f"separator; write {s.replace('.', '')} or use ',' as the decimal mark"
        )
    if re.fullmatch(r"[+-]?[\d.,' ]*\d[\d.,' ]*", s):
        mark = "','" if decimal_comma else "'.'"
        return ResultValueError(
            f"cannot read {s!r} as a number: use {mark} as the decimal mark "
            "and no thousands separators"
        )
    return None


def plain_number(s: str, decimal_comma: bool = False) -> float | None:
    """The fast path of :func:`parse_result`: the value of ``s`` (stripped, non-empty) when it
    is a plain finite number such as "12.5" or "1.2E+09" — an uncensored result with
    comparator "=" — else None (``parse_result`` then reads every other form)."""
    if (
        s[0] in _FAST_START
        and s.isascii()
        and "_" not in s
        and not (decimal_comma and _DOT_THOUSANDS.match(s))
    ):
        try:
            value = float(s)
        except ValueError:
            return None
        if -RESULT_MAGNITUDE_MAX <= value <= RESULT_MAGNITUDE_MAX:  # (not inf, not NaN)
            return value
    return None


def _within_range(s: str, value: float) -> float:
    """``value`` if a result may have it, else the problem (see RESULT_MAGNITUDE_MAX)."""
    if abs(value) > RESULT_MAGNITUDE_MAX:
        raise ResultValueError(
            f"{s!r} is too large for a result (at most {RESULT_MAGNITUDE_MAX:g} in magnitude)"
        )
    return value


def parse_result(
    text: str,
    *,
    decimal_comma: bool = False,
    lod: float | None = None,
    lloq: float | None = None,
    uloq: float | None = None,
    unit: str | None = None,
) -> ParsedResult:
    """Read a result value; see the module docstring for every accepted form.

    ``decimal_comma`` accepts ``,`` as the decimal mark (``.`` still works, but ``1.000``
    is rejected as ambiguous). ``lod``/``lloq``/``uloq`` fill in the value of ``<LOD``,
    ``<LLOQ``, ``>ULOQ`` and not-detected results, and make ``<x`` an ``lt_lloq`` result
    when x equals ``lloq``.
    """
    s = text.strip()
    if not s:
        raise ResultValueError("empty value")
    if len(s) > RESULT_TEXT_MAX:
        raise ResultValueError(f"longer than {RESULT_TEXT_MAX} characters")

    fast = plain_number(s, decimal_comma)
    if fast is not None:
        return _plain_number(s, fast)

    number = _read_number(s, decimal_comma)
    if number is not None:
        if decimal_comma and _DOT_THOUSANDS.match(s):
            raise _number_error(s, decimal_comma) or ResultValueError(_GARBAGE.format(s))
        return ParsedResult(s, _within_range(s, number))

    match = _COMPARATOR.match(s)
    if match is not None:
        comparator = _CANONICAL_COMPARATOR[match.group(1)]
        rest = match.group(2).strip()
        limit = _read_number(rest, decimal_comma)
        if limit is not None:
            _within_range(s, limit)
            if comparator[0] == ">":
                censor = "gt_uloq"
            elif lloq is not None and limit == lloq:
                censor = "lt_lloq"
            else:
                censor = "lt_lod"
            return ParsedResult(s, limit, comparator, censor)
        word = _LIMIT_WORDS.get(rest.lower())
        if word is not None and word[1] == comparator[0]:
            censor = word[0]
            limit_value = {"lt_lod": lod, "lt_lloq": lloq, "gt_uloq": uloq}[censor]
            return ParsedResult(s, limit_value, comparator, censor)

    key = _SPACES.sub(" ", s.lower())
    known = _WORDS.get(key)
    if known is not None:
        censor, comparator, qualitative = known
        if censor == "none":
            return ParsedResult(s, None, comparator, censor, qualitative)
        limits = {"lt_lod": lod, "lt_lloq": lloq, "gt_uloq": uloq, "not_detected": lod}
        if censor == "not_detected" and unit is not None:
            # within the run's cycles the Ct is above the limit; an amount is below it
            comparator = ">" if unit == CT_UNIT else "<"
        return ParsedResult(s, limits[censor], comparator, censor, qualitative)

    if key in _NOT_A_RESULT:
        raise ResultValueError(
            f"{s!r} is not a result; leave the row out, or write ND (not detected), <LOD, "
            "or a number"
        )
    raise _number_error(s, decimal_comma) or ResultValueError(_GARBAGE.format(s))


def format_number(value: float) -> str:
    """Shortest exact text for ``value``: ``100``, ``0.5``, ``1.2e+9``."""
    d = Decimal(repr(value)).normalize()
    if -5 <= d.adjusted() < 7:
        return format(d, "f")
    return format(d, "e")


_LIMIT_NAMES = {"lt_lod": "LOD", "lt_lloq": "LLOQ", "gt_uloq": "ULOQ"}


def format_result(p: ParsedResult) -> str:
    """Canonical display text: ``12.5``, ``<0.5``, ``<LOD``, ``ND (<0.1)``, ``positive``."""
    if p.censor == "not_detected":
        base = "not detected" if p.qualitative == "not_detected" else "ND"
        if p.value is None:
            return base
        return f"{base} ({p.comparator}{format_number(p.value)})"
    if p.value is None:
        if p.censor in _LIMIT_NAMES:
            return f"{p.comparator}{_LIMIT_NAMES[p.censor]}"
        if p.qualitative is not None:
            return p.qualitative.replace("_", " ")
        return p.text
    prefix = "" if p.comparator == "=" else p.comparator
    return f"{prefix}{format_number(p.value)}"
