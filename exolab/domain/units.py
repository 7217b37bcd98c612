"""Units: common lab spellings mapped to UCUM codes, and exact conversions.

``normalize_unit`` returns the UCUM code for a unit as lab staff write it (``pg/ml``,
``µg/mL``, ``particles/mL``, ``Cq``); any other string must be valid case-sensitive UCUM
(checked with ``ucumvert``). ``convert`` multiplies by exact decimal factors built from the
SI prefix table, so ``1 ng/mL`` is exactly ``1000 pg/mL``.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

__all__ = ["UnitError", "can_convert", "convert", "is_ucum", "normalize_unit"]

ACCEPTED_EXAMPLES = "pg/mL, ng/mL, ug/mL, /mL, {copies}/uL, {Ct}, nm, %, U/mL, mg/dL"


class UnitError(ValueError):
    """A unit is unknown, or two units cannot be converted into each other."""


# -- normalisation ------------------------------------------------------------------------

_MICRO = str.maketrans({"µ": "u", "μ": "u"})
_SPACES = re.compile(r"\s+")

_ALIASES: dict[str, str] = {
    # counts and annotations
    "ct": "{Ct}",
    "cq": "{Ct}",
    "{ct}": "{Ct}",
    "{cq}": "{Ct}",
    "c_t": "{Ct}",
    "cycles": "{Ct}",
    "cyclethreshold": "{Ct}",
    # lengths
    "nm": "nm",
    "nanometer": "nm",
    "nanometers": "nm",
    "nanometre": "nm",
    "nanometres": "nm",
    "um": "um",
    "micron": "um",
    "microns": "um",
    "micrometer": "um",
    "micrometre": "um",
    "mm": "mm",
    "cm": "cm",
    # time
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "min": "min",
    "mins": "min",
    "minute": "min",
    "minutes": "min",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    # percent and arbitrary units
    "%": "%",
    "percent": "%",
    "pct": "%",
    "percentage": "%",
    "a.u.": "[arb'U]",
    "au": "[arb'U]",
    "arbitraryunits": "[arb'U]",
    "arb.units": "[arb'U]",
    "rfu": "{RFU}",
    "rlu": "{RLU}",
    # temperature
    "°c": "Cel",
    "ºc": "Cel",
    "degc": "Cel",
    "celsius": "Cel",
    "cel": "Cel",
    # volumes and masses on their own
    "l": "L",
    "dl": "dL",
    "ml": "mL",
    "ul": "uL",
    "nl": "nL",
    "g": "g",
    "kg": "kg",
    "mg": "mg",
    "ug": "ug",
    "ng": "ng",
    "pg": "pg",
    # spellings common in clinical laboratory reports
    "mmhg": "mm[Hg]",
    "bpm": "/min",
    "mm/hr": "mm/h",
    "y": "a",
    "yr": "a",
    "yrs": "a",
    "year": "a",
    "years": "a",
    "ratio": "{ratio}",
    "index": "{index}",
    "inr": "{INR}",
    "titer": "{titer}",
    "titre": "{titer}",
    "/hpf": "/[HPF]",
    "/lpf": "/[LPF]",
    "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "ml/min/1.73m^2": "mL/min/{1.73_m2}",
    "mosm/kg": "mosm/kg",
    # urine or blood pH, not picohenry (UCUM "pH"): no lab records an inductance
    "ph": "[pH]",
}

# Thousands and millions per microlitre, as cell counters print them (case-sensitive: "K/uL"
# would otherwise parse as kelvin per microlitre).
_COUNT_PREFIXES = {"K": "10*3", "k": "10*3", "thou": "10*3", "M": "10*6", "mill": "10*6"}
_COUNT_PER_VOLUME = re.compile(r"^(K|k|thou|M|mill)/([dmun]?)[lL]$")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # mass concentration: pg/ml, MG/DL, g/l
    (re.compile(r"^([pnumk]?)g(?:/|per)([dmun]?)l$"), "{0}g/{1}L"),
    # counts per volume: particles/ml, p/mL, particles per ml, /ml, 1/ml
    (
        re.compile(r"^(?:particles?|parts?|p|evs?|events?|counts?|n|#|1)?(?:/|per)([dmun]?)l$"),
        "/{0}L",
    ),
    # cells per volume: cells/uL, cells/mm3
    (re.compile(r"^cells?(?:/|per)([dmun]?)l$"), "{{cells}}/{0}L"),
    (re.compile(r"^cells?(?:/|per)mm3$"), "{{cells}}/mm3"),
    # equivalents: mEq/L
    (re.compile(r"^([mu]?)eq/([dmu]?)l$"), "{0}eq/{1}L"),
    # units spelled out: Units/L
    (re.compile(r"^([mk]?)units?/([dmu]?)l$"), "{0}U/{1}L"),
    # copies per volume
    (re.compile(r"^(?:copies|copy|cps|cp)(?:/|per)([dmun]?)l$"), "{{copies}}/{0}L"),
    # particles per microgram of protein
    (re.compile(r"^(?:particles?|p|evs?)(?:/|per)ugprotein$"), "{{particles}}/ug"),
    (re.compile(r"^(?:particles?|p|evs?)(?:/|per)ug$"), "{{particles}}/ug"),
    # powers of ten per volume: 10^3/µL, x10^3/uL, 10e9/L, 10*6/ml
    (re.compile(r"^(?:x|\*)?10(?:\^|\*|e)\+?(\d+)(?:/|per)([dmun]?)l$"), "10*{0}/{1}L"),
    # amount concentration: mmol/l, umol/L
    (re.compile(r"^([mun]?|p|f)mol/([dm]?)l$"), "{0}mol/{1}L"),
    # enzyme activity: U/ml, IU/mL, mIU/ml, u/l
    (re.compile(r"^([mu]?)u/([dmu]?)l$"), "{0}U/{1}L"),
    (re.compile(r"^([mu]?)iu/([dmu]?)l$"), "{0}[IU]/{1}L"),
)

# Molar concentrations are case-sensitive: "nM" is nanomolar, "nm" is nanometre.
_MOLAR = re.compile(r"^([munpf]?)M$")


@functools.cache
def _ucum_parser() -> Any:
    import ucumvert

    return ucumvert.get_ucum_parser()


def _is_ucum(code: str) -> bool:
    from lark.exceptions import LarkError

    try:
        _ucum_parser().parse(code)
    except LarkError:
        return False
    return True


# Spellings that are valid UCUM but that no laboratory means in the UCUM sense; they keep
# their laboratory meaning (docs/units.md lists them).
_LEGACY: dict[str, str] = {
    "ph": "[pH]",  # UCUM: phot
    "pH": "[pH]",  # UCUM: picohenry
    "ct": "{Ct}",  # UCUM: centitonne
    "au": "[arb'U]",  # UCUM: attounified atomic mass unit
    "G/L": "10*9/L",  # UCUM: gauss per litre; cell counts "giga per litre"
    "T/L": "10*12/L",  # UCUM: tesla per litre; cell counts "tera per litre"
}

# "u/l", "mu/ml": UCUM reads unified atomic mass units (daltons) per litre; labs mean U/L.
_ENZYME_LOWER = re.compile(r"^([mk]?)u/([dmu]?)[lL]$")

# A factor never takes an exponent in UCUM: "10+3/ul" (UCUM functional test 1-108) is refused
# although the grammar of some parsers lets it through.
_FACTOR_EXPONENT = re.compile(r"(?:^|[./(])\d+[+-]\d")


# The units of most laboratory files, known valid without building the UCUM parser, which
# costs about a second on first use (pint's import and lark's grammar): an import of a file
# in these units starts at once. tests/domain/test_units.py checks every one with the parser.
_COMMON_UCUM = frozenset(
    f"{prefix}{unit}/{per}"
    for prefix in ("", "m", "u", "n", "p", "f")
    for unit in ("g", "mol")
    for per in ("L", "dL", "mL", "uL")
) | frozenset(
    ("/mL", "/uL", "{particles}/mL", "{copies}/uL", "{copies}/mL", "{Ct}", "%", "nm", "U/mL", "U/L")
)


def is_ucum(code: str) -> bool:
    """True when ``code`` is a valid, case-sensitive UCUM expression."""
    if code in _COMMON_UCUM:
        return True
    if not code or any(c.isspace() for c in code) or _FACTOR_EXPONENT.search(code):
        return False
    return _is_ucum(code)


def _synonym(simple: str) -> str | None:
    """The UCUM code of a laboratory spelling (case-insensitive), or None."""
    count = _COUNT_PER_VOLUME.match(simple.replace(" ", ""))
    if count:
        return f"{_COUNT_PREFIXES[count.group(1)]}/{count.group(2)}L"
    molar = _MOLAR.match(simple.replace(" ", ""))
    if molar:
        return f"{molar.group(1)}mol/L"
    key = _SPACES.sub(" ", simple.lower())
    compact = key.replace(" ", "")
    alias = _ALIASES.get(key) or _ALIASES.get(compact)
    if alias is not None:
        return alias
    for pattern, template in _PATTERNS:
        match = pattern.match(compact)
        if match:
            return template.format(*match.groups())
    return None


def _same_meaning(a: str, b: str) -> bool:
    x, y = _analyse(a), _analyse(b)
    return x is not None and x == y


@functools.lru_cache(maxsize=4096)
def normalize_unit(text: str) -> str:
    """Return the UCUM code for ``text``; raise UnitError for an unknown unit.

    Exact-case UCUM comes first (``S`` is siemens, ``H`` henry, ``g/L.10`` ten grams per
    litre). A laboratory synonym applies to a valid UCUM code only when it means the same
    (``pg/ml`` -> ``pg/mL``), when the code is written all in capitals with a ``/``
    (``PG/ML``, ``K/UL``: legacy analyser spellings), or when it is listed in ``_LEGACY``
    (``K/uL``, ``pH``). Other strings go through the synonym table (docs/units.md).
    """
    raw = text.strip()
    if not raw:
        raise UnitError(f"empty unit; use a UCUM unit such as {ACCEPTED_EXAMPLES}")
    simple = raw.translate(_MICRO)
    simple = re.sub(r"(?<![A-Za-z])mcg", "ug", simple)  # mcg/dL = ug/dL
    compact = simple.replace(" ", "")
    legacy = _LEGACY.get(compact)
    if legacy is not None:
        return legacy
    enzyme = _ENZYME_LOWER.match(compact)  # u/l: enzyme units, not daltons per litre
    if enzyme:
        return f"{enzyme.group(1)}U/{enzyme.group(2)}L"
    if _COUNT_PER_VOLUME.match(compact):  # K/uL, M/uL: thousands, millions per volume
        synonym = _synonym(simple)
        assert synonym is not None
        return synonym
    if is_ucum(simple):
        synonym = _synonym(simple)
        if synonym is not None and synonym != simple:
            shouting = "/" in simple and not any(c.islower() for c in simple)
            if shouting or _same_meaning(simple, synonym):
                return synonym
        return simple
    if re.search(r"\d[+-]\d", compact) and _FACTOR_EXPONENT.search(compact):
        raise UnitError(
            f"unknown unit {raw!r}: a number takes no exponent in UCUM; "
            "write a power of ten as 10*3 (e.g. 10*3/uL)"
        )
    synonym = _synonym(simple)
    if synonym is not None:
        return synonym
    raise UnitError(f"unknown unit {raw!r}; use a UCUM unit such as {ACCEPTED_EXAMPLES}")


# -- conversion ---------------------------------------------------------------------------

_PREFIXES: dict[str, Fraction] = {
    p: Fraction(10) ** e
    for p, e in (
        ("Y", 24),
        ("Z", 21),
        ("E", 18),
        ("P", 15),
        ("T", 12),
        ("G", 9),
        ("M", 6),
        ("k", 3),
        ("h", 2),
        ("da", 1),
        ("d", -1),
        ("c", -2),
        ("m", -3),
        ("u", -6),
        ("n", -9),
        ("p", -12),
        ("f", -15),
        ("a", -18),
        ("z", -21),
        ("y", -24),
    )
}
# Longest prefix first so "da" is tried before "d".
_PREFIX_ORDER = sorted(_PREFIXES, key=len, reverse=True)

Dims = tuple[tuple[str, int], ...]

# atom -> (factor to the base, dimensions, may take a prefix)
_ATOMS: dict[str, tuple[Fraction, dict[str, int], bool]] = {
    "g": (Fraction(1), {"M": 1}, True),
    "m": (Fraction(1), {"L": 1}, True),
    "L": (Fraction(1, 1000), {"L": 3}, True),
    "l": (Fraction(1, 1000), {"L": 3}, True),
    "s": (Fraction(1), {"T": 1}, True),
    "min": (Fraction(60), {"T": 1}, False),
    "h": (Fraction(3600), {"T": 1}, False),
    "d": (Fraction(86400), {"T": 1}, False),
    "mol": (Fraction(1), {"N": 1}, True),
    "U": (Fraction(1), {"U": 1}, True),
    "[IU]": (Fraction(1), {"IU": 1}, True),
    "K": (Fraction(1), {"K": 1}, False),
    "C": (Fraction(1), {"Q": 1}, True),
    "A": (Fraction(1), {"Q": 1, "T": -1}, True),
    "S": (Fraction(1, 1000), {"Q": 2, "T": 1, "M": -1, "L": -2}, True),
    "V": (Fraction(1000), {"M": 1, "L": 2, "T": -2, "Q": -1}, True),
    "Ohm": (Fraction(1000), {"M": 1, "L": 2, "T": -1, "Q": -2}, True),
    "N": (Fraction(1000), {"M": 1, "L": 1, "T": -2}, True),
    "Pa": (Fraction(1000), {"M": 1, "L": -1, "T": -2}, True),
    "J": (Fraction(1000), {"M": 1, "L": 2, "T": -2}, True),
    "W": (Fraction(1000), {"M": 1, "L": 2, "T": -3}, True),
    "Hz": (Fraction(1), {"T": -1}, True),
    "%": (Fraction(1, 100), {}, False),
    "1": (Fraction(1), {}, False),
}

# Annotations that only say what is counted where exolab stores a plain count.
_PLAIN_COUNT_ANNOTATIONS = frozenset({"particles", "particle", "p", "evs", "ev"})

_ANNOTATION = re.compile(r"\{([^{}]*)\}")
_POWER_OF_TEN = re.compile(r"^10[*^]([+-]?\d+)$")
_ATOM = re.compile(r"^(\[?[A-Za-z%\]'\[]+)([+-]?\d+)?$")


@dataclass(frozen=True)
class _Analysed:
    factor: Fraction
    dims: Dims
    tags: tuple[tuple[str, int], ...]


def _atom(symbol: str) -> tuple[Fraction, dict[str, int]] | None:
    if symbol in _ATOMS:
        factor, dims, _ = _ATOMS[symbol]
        return factor, dims
    for prefix in _PREFIX_ORDER:
        if symbol.startswith(prefix):
            base = _ATOMS.get(symbol[len(prefix) :])
            if base is not None and base[2]:
                return _PREFIXES[prefix] * base[0], base[1]
    return None


def _split(code: str) -> list[tuple[int, str]] | None:
    """``code`` as (sign, component) pairs at the top level: ``.`` multiplies (+1), ``/``
    divides (-1); parentheses, brackets and braces are kept inside their component."""
    parts: list[tuple[int, str]] = []
    depth = {"(": 0, "[": 0, "{": 0}
    close = {")": "(", "]": "[", "}": "{"}
    sign, start = 1, 0
    if code.startswith("/"):
        sign, start = -1, 1
    i = start
    for i, c in enumerate(code[start:], start):
        if c in depth:
            depth[c] += 1
        elif c in close:
            depth[close[c]] -= 1
            if depth[close[c]] < 0:
                return None
        elif c in "./" and not any(depth.values()):
            parts.append((sign, code[start:i]))
            sign, start = (1 if c == "." else -1), i + 1
    parts.append((sign, code[start:]))
    if any(depth.values()) or any(not p for _, p in parts):
        return None
    return parts


@functools.lru_cache(maxsize=1024)
def _analyse(code: str) -> _Analysed | None:
    """Factor to coherent base units, dimensions and annotations of a UCUM code, or None.

    Operators apply from left to right as UCUM reads them: ``g/L.10`` is ten grams per litre
    (``(g/L).10``), ``s/m.mg`` is ``s.m-1.mg``; write ``g/(L.10)`` for the other reading.
    """
    parts = _split(code)
    if parts is None:
        return None
    factor = Fraction(1)
    dims: dict[str, int] = {}
    tags: dict[str, int] = {}
    for sign, part in parts:
        if part.startswith("(") and part.endswith(")"):
            inner = _analyse(part[1:-1])
            if inner is None:
                return None
            factor *= inner.factor**sign
            for dim, exp in inner.dims:
                dims[dim] = dims.get(dim, 0) + exp * sign
            for tag, exp in inner.tags:
                tags[tag] = tags.get(tag, 0) + exp * sign
            continue
        for tag in _ANNOTATION.findall(part):
            name = tag.strip().lower()
            if name not in _PLAIN_COUNT_ANNOTATIONS:
                tags[name] = tags.get(name, 0) + sign
        part = _ANNOTATION.sub("", part)
        if not part:
            continue
        power = _POWER_OF_TEN.match(part)
        if power:
            factor *= Fraction(10) ** (int(power.group(1)) * sign)
            continue
        if part.isdigit():
            factor *= Fraction(int(part)) ** sign
            continue
        match = _ATOM.match(part)
        if match is None:
            return None
        found = _atom(match.group(1))
        if found is None:
            return None
        exponent = int(match.group(2) or 1) * sign
        factor *= found[0] ** exponent
        for dim, exp in found[1].items():
            dims[dim] = dims.get(dim, 0) + exp * exponent
    return _Analysed(
        factor,
        tuple(sorted((d, e) for d, e in dims.items() if e)),
        tuple(sorted((t, e) for t, e in tags.items() if e)),
    )


def _commensurable(from_unit: str, to_unit: str) -> tuple[_Analysed, _Analysed]:
    a = _analyse(normalize_unit(from_unit))
    b = _analyse(normalize_unit(to_unit))
    if a is None or b is None:
        raise UnitError(
            f"cannot convert {from_unit.strip()!r} to {to_unit.strip()!r}: exolab converts "
            "concentrations, counts per volume, amounts, lengths, volumes, masses and times"
        )
    if a.dims != b.dims or a.tags != b.tags:
        raise UnitError(
            f"cannot convert {from_unit.strip()!r} to {to_unit.strip()!r}: "
            "they measure different kinds of quantity"
        )
    return a, b


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert ``value`` from one unit to another exactly (``convert(1, 'ng/mL', 'pg/mL')``)."""
    if from_unit == to_unit:
        return float(value)
    a, b = _commensurable(from_unit, to_unit)
    ratio = a.factor / b.factor
    if ratio == 1:
        return float(value)
    if not math.isfinite(value):
        return value * float(ratio)
    # the decimal the value was typed as (its shortest repr), not its binary expansion:
    # 0.22635 ng/mL is 226.35 pg/mL, not 226.35000000000002 (docs/units.md)
    return float(Fraction(repr(float(value))) * ratio)


def can_convert(from_unit: str, to_unit: str) -> bool:
    """True when ``convert`` between the two units would succeed."""
    try:
        _commensurable(from_unit, to_unit)
    except UnitError:
        return False
    return True
