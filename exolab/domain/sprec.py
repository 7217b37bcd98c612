"""SPREC (ISBER Standard PREanalytical Code) for fluid samples, as described in DOMAIN.md.

A fluid code has seven elements: type-container-pre_centrifugation-centrifugation-
second_centrifugation-post_centrifugation-storage, e.g. ``PL2-PED-A-A-A-B-A``.

Bucket rules: delays and g-forces include their lower bound and exclude their upper one;
the 10-15 min spin window includes both ends; temperatures are inclusive ranges (RT 18-28 °C,
cold 2-10 °C, body 35-38 °C); storage below -135 °C is exclusive. A recorded value outside
every bucket gives ``Z``, an unrecorded one ``X``.

Choices where DOMAIN.md is silent:

- Plasma is ``PL2`` when any second-spin field is recorded, else ``PL1``.
- Urine uses the void type; second-morning and unrecorded voids give ``URN`` (SPREC has no
  second-morning code), conditioned medium and other fluids give ``ZZZ``.
- Whole blood without recorded spins has ``N`` (no centrifugation) for both spins and
  ``N`` for post-centrifugation. For other fluids, a recorded first spin without any
  second-spin field gives ``N`` for the second spin; with no spin recorded both are ``X``.
- A missing tube gives ``XXX``.
- ``conflicts`` ignores elements that the recorded fields leave unknown and those derived
  only from a default above (PL1 vs PL2 without spin2 fields, URN without a void type,
  ``N`` second spin without spin2 fields).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exolab.domain.sprec_tables import LONG_TERM_STORAGE, SAMPLE_TYPES, lower_first
from exolab.domain.vocab import (
    BIOFLUID,
    BRAKE,
    STORAGE_CONTAINER,
    TEMP_CATEGORY,
    TUBE,
    URINE_VOID,
)

__all__ = [
    "ELEMENTS",
    "SampleHandling",
    "SprecElement",
    "SprecError",
    "conflicts",
    "derive_sprec",
    "explain_sprec",
    "implied_fields",
    "inherited_sprec",
    "reconcile_sprec",
]

ELEMENTS = (
    "type",
    "container",
    "pre_centrifugation",
    "centrifugation",
    "second_centrifugation",
    "post_centrifugation",
    "storage",
)

_INF = math.inf


class SprecError(ValueError):
    """A malformed SPREC code; ``element`` names the offending element (or ``code``)."""

    def __init__(self, message: str, element: str) -> None:
        super().__init__(message)
        self.element = element


@dataclass(frozen=True)
class SprecElement:
    """One element of a SPREC code with its meaning."""

    position: int
    element: str
    code: str
    meaning: str


@dataclass
class SampleHandling:
    """Recorded pre-analytical fields of a sample (import column names, docs/import-formats.md)."""

    biofluid: str
    tube: str | None = None
    urine_void: str | None = None
    pre_centrifugation_delay_min: float | None = None
    pre_centrifugation_temp: str | None = None
    spin1_g: float | None = None
    spin1_min: float | None = None
    spin1_temp_c: float | None = None
    spin1_brake: str | None = None
    spin2_g: float | None = None
    spin2_min: float | None = None
    spin2_temp_c: float | None = None
    spin2_brake: str | None = None
    post_centrifugation_delay_min: float | None = None
    post_centrifugation_temp: str | None = None
    storage_temp_c: float | None = None
    storage_container: str | None = None


# -- code tables --------------------------------------------------------------------------

# Sample types from the published SPREC 4.0 table (exolab/domain/sprec_tables.py), plus
# ZZZ for other fluids (conditioned medium).
TYPE_CODES: dict[str, str] = {
    **{code: lower_first(words) for code, words in SAMPLE_TYPES.items()},
    "ZZZ": "other",
}

# type code -> (biofluid, urine_void) it determines
_TYPE_FIELDS: dict[str, tuple[str, str | None]] = {
    "PL1": ("plasma", None),
    "PL2": ("plasma", None),
    "SER": ("serum", None),
    "BLD": ("whole_blood", None),
    "URN": ("urine", None),  # random, second morning or not recorded: no one void type
    "URM": ("urine", "first_morning"),
    "URT": ("urine", "timed"),
    "U24": ("urine", "24h"),
    "CSF": ("csf", None),
    "SAL": ("saliva", None),
}

_URINE_TYPES = {
    "random": "URN",
    "second_morning": "URN",
    "first_morning": "URM",
    "timed": "URT",
    "24h": "U24",
}

_SIMPLE_TYPES = {
    "serum": "SER",
    "whole_blood": "BLD",
    "csf": "CSF",
    "saliva": "SAL",
    "conditioned_medium": "ZZZ",
    "other": "ZZZ",
}

_TEMP_WORDS = {"rt": "room temperature", "cold": "2-10 °C", "body": "35-38 °C"}

# (lower bound min inclusive, upper bound exclusive, code at RT, code at 2-10 °C, words)
_PRE_BUCKETS = (
    (0.0, 120.0, "A", "B", "< 2 h"),
    (120.0, 240.0, "C", "D", "2-4 h"),
    (240.0, 480.0, "E", "F", "4-8 h"),
    (480.0, 720.0, "G", "H", "8-12 h"),
    (720.0, 1440.0, "I", "J", "12-24 h"),
    (1440.0, 2880.0, "K", "L", "24-48 h"),
    (2880.0, _INF, "M", "N", "> 48 h"),
)


def _delay_codes(
    buckets: tuple[tuple[float, float, str, str, str], ...], first_is_rt: bool
) -> dict[str, str]:
    codes: dict[str, str] = {}
    for _, _, first, second, label in buckets:
        rt_code, cold_code = (first, second) if first_is_rt else (second, first)
        codes[rt_code] = f"{label} at room temperature"
        codes[cold_code] = f"{label} at 2-10 °C"
    return dict(sorted(codes.items()))


PRE_CENTRIFUGATION_CODES: dict[str, str] = {
    **_delay_codes(_PRE_BUCKETS, first_is_rt=True),
    "O": "< 2 h at 35-38 °C",
    "X": "unknown",
    "Z": "other",
}


@dataclass(frozen=True)
class _Spin:
    code: str
    temp: str  # rt / cold
    g_low: float  # inclusive
    g_high: float  # exclusive
    brake: str
    min_low: float = 10.0
    min_high: float = 15.0
    first_only: bool = False

    @property
    def meaning(self) -> str:
        if self.g_high == _INF:
            force = f"> {self.g_low:g} g"
        elif self.g_low == 0:
            force = f"< {self.g_high:g} g"
        else:
            force = f"{self.g_low:g}-{self.g_high:g} g"
        if self.min_low == self.min_high:
            duration = f"{self.min_low:g} min"
        else:
            duration = f"{self.min_low:g}-{self.min_high:g} min"
        brake = "with brake" if self.brake == "brake" else "no brake"
        return f"{_TEMP_WORDS[self.temp]}, {duration}, {force}, {brake}"


_SPINS = (
    _Spin("A", "rt", 0, 3000, "no_brake"),
    _Spin("B", "rt", 0, 3000, "brake"),
    _Spin("C", "cold", 0, 3000, "no_brake"),
    _Spin("D", "cold", 0, 3000, "brake"),
    _Spin("E", "rt", 3000, 6000, "brake"),
    _Spin("F", "cold", 3000, 6000, "brake"),
    _Spin("G", "rt", 6000, 10000, "brake"),
    _Spin("H", "cold", 6000, 10000, "brake"),
    _Spin("I", "rt", 10000, _INF, "brake"),
    _Spin("J", "cold", 10000, _INF, "brake"),
    _Spin("M", "rt", 0, 1000, "no_brake", 30, 30, first_only=True),
)

CENTRIFUGATION_CODES: dict[str, str] = {s.code: s.meaning for s in _SPINS}
CENTRIFUGATION_CODES.update({"N": "no centrifugation", "X": "unknown", "Z": "other"})
SECOND_CENTRIFUGATION_CODES = {
    k: v for k, v in CENTRIFUGATION_CODES.items() if k != "M"
}  # M is first spin only

# (lower bound min inclusive, upper exclusive, code at 2-10 °C, code at RT, words)
_POST_BUCKETS = (
    (0.0, 60.0, "A", "B", "< 1 h"),
    (60.0, 120.0, "C", "D", "1-2 h"),
    (120.0, 480.0, "E", "F", "2-8 h"),
    (480.0, 1440.0, "G", "H", "8-24 h"),
    (1440.0, _INF, "I", "J", "> 24 h"),
)

POST_CENTRIFUGATION_CODES: dict[str, str] = {
    **_delay_codes(_POST_BUCKETS, first_is_rt=False),
    "N": "not applicable",
    "X": "unknown",
    "Z": "other",
}


@dataclass(frozen=True)
class _Storage:
    code: str
    container: str
    low: float  # inclusive
    high: float
    high_inclusive: bool
    words: str

    def holds(self, temp_c: float) -> bool:
        if self.high_inclusive:
            return self.low <= temp_c <= self.high
        return self.low <= temp_c < self.high


_STORAGES = (
    _Storage("A", "pp_2ml", -85, -60, True, "PP tube 0.5-2 mL at -85 to -60 °C"),
    _Storage("B", "pp_2ml", -35, -18, True, "PP tube 0.5-2 mL at -35 to -18 °C"),
    _Storage("V", "pp_2ml", -_INF, -135, False, "PP tube 0.5-2 mL below -135 °C"),
    _Storage("C", "cryotube", -_INF, -135, False, "cryotube 1-2 mL in liquid nitrogen"),
    _Storage("D", "cryotube", -85, -60, True, "cryotube 1-2 mL at -85 to -60 °C"),
    _Storage("J", "pp_5ml", -85, -60, True, "PP tube >= 5 mL at -85 to -60 °C"),
    _Storage("K", "pp_5ml", -35, -18, True, "PP tube >= 5 mL at -35 to -18 °C"),
    _Storage("L", "microplate", -85, -60, True, "microplate at -85 to -60 °C"),
    _Storage("S", "pp_500ul", -85, -60, True, "PP tube 40-500 uL at -85 to -60 °C"),
    _Storage("T", "pp_500ul", -35, -18, True, "PP tube 40-500 uL at -35 to -18 °C"),
    _Storage("W", "pp_500ul", -_INF, -135, False, "PP tube 40-500 uL below -135 °C"),
    _Storage("M", "microplate", -35, -18, True, "microplate at -35 to -18 °C"),
)

# Every long-term storage letter of the published table is a valid code; the ones exolab
# derives (above) carry their temperature, the others the table's container words.
STORAGE_CODES: dict[str, str] = {
    code: f"{lower_first(words)} (temperature as in the SPREC table; not derived by exolab)"
    for code, words in LONG_TERM_STORAGE.items()
    if code != "Z"
}
STORAGE_CODES.update({s.code: s.words for s in _STORAGES})
STORAGE_CODES.update({"X": "unknown", "Z": "other"})

_TABLES: tuple[dict[str, str], ...] = (
    TYPE_CODES,
    {code: label for code, label in TUBE.codes.items()},
    PRE_CENTRIFUGATION_CODES,
    CENTRIFUGATION_CODES,
    SECOND_CENTRIFUGATION_CODES,
    POST_CENTRIFUGATION_CODES,
    STORAGE_CODES,
)

_SOURCES = (
    "biofluid fields give",
    "tube gives",
    "pre_centrifugation fields give",
    "spin1 fields give",
    "spin2 fields give",
    "post_centrifugation fields give",
    "storage fields give",
)

_UNKNOWN = frozenset({"X", "XXX"})


# -- derivation ---------------------------------------------------------------------------


def _temp_category(temp_c: float) -> str | None:
    for low, high, code in TEMP_CATEGORY.numeric_buckets:
        if low <= temp_c <= high:
            return code
    return None


def _delay_element(
    delay_min: float | None,
    temp: str | None,
    buckets: tuple[tuple[float, float, str, str, str], ...],
    first_is_rt: bool,
    body_code: str | None,
) -> str:
    if delay_min is not None and (delay_min < 0 or math.isnan(delay_min)):
        return "Z"
    if delay_min is None or temp is None:
        return "X"
    category = TEMP_CATEGORY.normalize(temp)
    if category == "body":
        return body_code if body_code is not None and delay_min < 120 else "Z"
    for low, high, first, second, _ in buckets:
        if low <= delay_min < high:
            rt_code, cold_code = (first, second) if first_is_rt else (second, first)
            return rt_code if category == "rt" else cold_code
    return "Z"


def _spin_element(
    g: float | None,
    minutes: float | None,
    temp_c: float | None,
    brake: str | None,
    first: bool,
) -> str | None:
    """The spin letter, or None when nothing about this spin is recorded."""
    if g is None and minutes is None and temp_c is None and brake is None:
        return None
    candidates = [s for s in _SPINS if first or not s.first_only]
    if g is not None:
        candidates = [s for s in candidates if g > 0 and s.g_low <= g < s.g_high]
    if minutes is not None:
        candidates = [s for s in candidates if s.min_low <= minutes <= s.min_high]
    if temp_c is not None:
        category = _temp_category(temp_c)
        candidates = [s for s in candidates if s.temp == category]
    if brake is not None:
        brake_code = BRAKE.normalize(brake)
        candidates = [s for s in candidates if s.brake == brake_code]
    if not candidates:
        return "Z"
    if g is None or minutes is None or temp_c is None or brake is None:
        return "X"
    return candidates[0].code


def _storage_element(temp_c: float | None, container: str | None) -> str:
    if temp_c is None and container is None:
        return "X"
    candidates = list(_STORAGES)
    if container is not None:
        container_code = STORAGE_CONTAINER.normalize(container)
        candidates = [s for s in candidates if s.container == container_code]
    if temp_c is not None:
        candidates = [s for s in candidates if s.holds(temp_c)]
    if not candidates:
        return "Z"
    if temp_c is None or container is None:
        return "X"
    return candidates[0].code


def _derive(h: SampleHandling) -> list[tuple[str, bool]]:
    """Each element's code and whether it rests only on a default (see module docstring)."""
    biofluid = BIOFLUID.normalize(h.biofluid)
    spin1_recorded = any(
        v is not None for v in (h.spin1_g, h.spin1_min, h.spin1_temp_c, h.spin1_brake)
    )
    spin2_recorded = any(
        v is not None for v in (h.spin2_g, h.spin2_min, h.spin2_temp_c, h.spin2_brake)
    )

    if biofluid == "plasma":
        sample_type = ("PL2", False) if spin2_recorded else ("PL1", True)
    elif biofluid == "urine":
        void = URINE_VOID.normalize(h.urine_void) if h.urine_void is not None else None
        sample_type = (_URINE_TYPES[void], False) if void is not None else ("URN", True)
    else:
        sample_type = (_SIMPLE_TYPES[biofluid], False)

    container = TUBE.normalize(h.tube) if h.tube is not None else "XXX"

    pre = _delay_element(
        h.pre_centrifugation_delay_min, h.pre_centrifugation_temp, _PRE_BUCKETS, True, "O"
    )

    not_spun = biofluid == "whole_blood"
    first = _spin_element(h.spin1_g, h.spin1_min, h.spin1_temp_c, h.spin1_brake, first=True)
    spin1 = (first, False) if first is not None else ("N", True) if not_spun else ("X", False)

    second = _spin_element(h.spin2_g, h.spin2_min, h.spin2_temp_c, h.spin2_brake, first=False)
    if second is not None:
        spin2 = (second, False)
    elif spin1_recorded or not_spun:
        spin2 = ("N", True)
    else:
        spin2 = ("X", False)

    post_recorded = (
        h.post_centrifugation_delay_min is not None or h.post_centrifugation_temp is not None
    )
    if spin1[0] == "N" and not post_recorded:
        post = ("N", True)
    else:
        post_code = _delay_element(
            h.post_centrifugation_delay_min,
            h.post_centrifugation_temp,
            _POST_BUCKETS,
            False,
            None,
        )
        post = (post_code, False)

    storage = _storage_element(h.storage_temp_c, h.storage_container)
    return [
        sample_type,
        (container, False),
        (pre, False),
        spin1,
        spin2,
        post,
        (storage, False),
    ]


def derive_sprec(h: SampleHandling) -> str:
    """The fluid SPREC code for the recorded handling, e.g. ``PL2-PED-A-A-A-B-A``."""
    return "-".join(code for code, _ in _derive(h))


# -- reading codes ------------------------------------------------------------------------


def _element_words(element: str) -> str:
    return element.replace("_", " ")


def explain_sprec(code: str) -> list[SprecElement]:
    """The seven elements of a fluid SPREC code with their meanings; SprecError if malformed."""
    text = code.strip().upper()
    parts = text.split("-")
    if not text or len(parts) != len(ELEMENTS):
        raise SprecError(
            f"sprec code {code.strip()!r} has {len(parts) if text else 0} parts; a fluid SPREC "
            "code has 7 parts separated by '-': type-container-pre-centrifugation-"
            "centrifugation-second centrifugation-post-centrifugation-storage, "
            "e.g. PL2-PED-A-A-A-B-A",
            "code",
        )
    result: list[SprecElement] = []
    for position, (element, part, table) in enumerate(
        zip(ELEMENTS, parts, _TABLES, strict=True), start=1
    ):
        part = part.strip()
        meaning = table.get(part)
        if meaning is None:
            hint = ""
            if element == "second_centrifugation" and part == "M":
                hint = " (M, a 30 min spin below 1000 g, is for the first centrifugation only)"
            raise SprecError(
                f"sprec element {position} ({_element_words(element)}) {part!r} is not a valid "
                f"code{hint}; accepted: {', '.join(table)}",
                element,
            )
        result.append(SprecElement(position, element, part, meaning))
    return result


def implied_fields(code: str) -> dict[str, object]:
    """The categorical SampleHandling fields a code fully determines (nothing numeric).

    Possible keys: biofluid, urine_void, tube, pre_centrifugation_temp, spin1_brake,
    spin2_brake, post_centrifugation_temp, storage_container. Unknown (X/XXX) and other (Z,
    ZZZ type) elements imply nothing.
    """
    elements = explain_sprec(code)
    fields: dict[str, object] = {}
    sample_type = elements[0].code
    if sample_type in _TYPE_FIELDS:
        biofluid, void = _TYPE_FIELDS[sample_type]
        fields["biofluid"] = biofluid
        if void is not None:
            fields["urine_void"] = void
    elif sample_type != "ZZZ":
        fields["biofluid"] = "other"
    if elements[1].code != "XXX":
        fields["tube"] = elements[1].code
    pre = elements[2].code
    for _, _, rt_code, cold_code, _ in _PRE_BUCKETS:
        if pre == rt_code:
            fields["pre_centrifugation_temp"] = "rt"
        elif pre == cold_code:
            fields["pre_centrifugation_temp"] = "cold"
    if pre == "O":
        fields["pre_centrifugation_temp"] = "body"
    spins = {s.code: s for s in _SPINS}
    for key, element in (("spin1_brake", elements[3]), ("spin2_brake", elements[4])):
        if element.code in spins:
            fields[key] = spins[element.code].brake
    post = elements[5].code
    for _, _, cold_code, rt_code, _ in _POST_BUCKETS:
        if post == cold_code:
            fields["post_centrifugation_temp"] = "cold"
        elif post == rt_code:
            fields["post_centrifugation_temp"] = "rt"
    storages = {s.code: s for s in _STORAGES}
    if elements[6].code in storages:
        fields["storage_container"] = storages[elements[6].code].container
    return fields


def conflicts(code: str, h: SampleHandling) -> list[str]:
    """Messages for each element where ``code`` disagrees with the recorded fields.

    Elements the recorded fields leave unknown, or that rest on a default, never conflict;
    neither do elements the code itself gives as unknown (X, XXX).
    """
    given = explain_sprec(code)
    derived = _derive(h)
    messages: list[str] = []
    for element, (derived_code, by_default), source in zip(given, derived, _SOURCES, strict=True):
        if element.code == derived_code or element.code in _UNKNOWN or derived_code in _UNKNOWN:
            continue
        if by_default:
            if element.position != 1:
                continue
            # PL1/URN defaults: only a different biofluid is a conflict
            implied = _TYPE_FIELDS.get(element.code, ("other", None))[0]
            if implied == _TYPE_FIELDS[derived_code][0]:
                continue
        messages.append(
            f"sprec element {element.position} ({_element_words(element.element)}) is "
            f"{element.code!r} but the recorded {source} {derived_code!r}"
        )
    return messages


def reconcile_sprec(code: str, h: SampleHandling) -> str:
    """The derived code with unknown or defaulted elements taken from a given ``code``.

    Use after ``conflicts(code, h)`` came back empty, to keep what a given code knows that
    the recorded fields do not (e.g. a pre-centrifugation delay nobody typed in).
    """
    given = explain_sprec(code)
    parts: list[str] = []
    for element, (derived_code, by_default) in zip(given, _derive(h), strict=True):
        if element.code not in _UNKNOWN and (derived_code in _UNKNOWN or by_default):
            parts.append(element.code)
        else:
            parts.append(derived_code)
    return "-".join(parts)


# Elements an aliquot records itself (its own storage container and temperature); the others
# were fixed by the parent's collection and processing and are inherited (docs/lifecycle.md).
ALIQUOT_OWN_ELEMENTS = ("storage",)


def inherited_sprec(parent_code: str) -> str:
    """The parent's code with the elements an aliquot records itself made unknown, so that
    those are derived from the aliquot's own fields and the rest is inherited."""
    parts = [e.code for e in explain_sprec(parent_code)]
    for i, element in enumerate(ELEMENTS):
        if element in ALIQUOT_OWN_ELEMENTS:
            parts[i] = "X"
    return "-".join(parts)
