"""Pydantic input models: one set of validation rules for the UI, the CLI and the importer.

Field names are the CSV column names of docs/import-formats.md, so a CSV row validates directly. Every
vocabulary accepts its synonyms and SPREC codes; units are normalised to UCUM; result values are
parsed into number, comparator and censor flag with the original text kept.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from exolab.domain import vocab
from exolab.domain.cached_rows import construct
from exolab.domain.markers import normalize_analyte_code
from exolab.domain.readout_rules import limits_rule, target_rule, unit_rule
from exolab.domain.units import normalize_unit
from exolab.domain.values import ParsedResult, parse_result

LOCATION_RE = re.compile(r"^(?P<freezer>[^/]+)/(?P<rack>[^/]+)/(?P<box>[^/]+)(?:/(?P<pos>[^/]+))?$")
POSITION_RE = re.compile(r"^(?P<row>[A-Za-z])(?P<col>[0-9]{1,2})$")
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")


def _vocab(v: vocab.Vocabulary) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return v.normalize(str(value))

    return check


def _code(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if value and not CODE_RE.match(value):
            raise ValueError(
                f"'{value}' is not a valid identifier (letters, digits, and - _ . : only; "
                "no spaces or slashes)"
            )
    return value


def _unit(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return normalize_unit(str(value))


def _naive_datetime(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


# -- dates (docs/reliability.md) -------------------------------------------------------------
# ISO 8601 only: a date is YYYY-MM-DD; a date and time is YYYY-MM-DD, then T or a space, then
# HH:MM with optional :SS and fraction, and an optional Z or +HH:MM offset (converted to UTC).
# A date alone in a date-and-time column means midnight. Bare numbers are refused: 20240111
# (write 2024-01-11), Excel day serials (45302) and Unix timestamps (1704931200) are all
# numbers a spreadsheet produced from a date cell, never the date the user saw.
EARLIEST_DATE_ENV = "EXOLAB_EARLIEST_DATE"
DEFAULT_EARLIEST = date(1900, 1, 1)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)


@lru_cache(maxsize=4)
def _earliest_from(text: str | None) -> date:
    if not text:
        return DEFAULT_EARLIEST
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{EARLIEST_DATE_ENV} must be a date YYYY-MM-DD (got '{text}')") from None


def date_window() -> tuple[date, date]:
    """The dates accepted: from ``EXOLAB_EARLIEST_DATE`` (default 1900-01-01) to tomorrow."""
    import os

    return _earliest_from(os.environ.get(EARLIEST_DATE_ENV)), date.today() + timedelta(days=1)


def _bare_number_hint(v: str) -> str:
    if len(v) == 8:
        try:
            d = date(int(v[:4]), int(v[4:6]), int(v[6:]))
        except ValueError:
            pass
        else:
            return f"'{v}' is a number, not a date; write {d.isoformat()} (YYYY-MM-DD)"
    if len(v) <= 6:
        return (
            f"'{v}' is a number, not a date (a spreadsheet's day number?); format the column "
            "as a date and write YYYY-MM-DD"
        )
    return f"'{v}' is a number, not a date (a Unix timestamp?); write YYYY-MM-DD"


def _date_text(value: Any, *, with_time: bool) -> Any:
    if isinstance(value, int | float):  # (bool too)
        raise ValueError(_bare_number_hint(str(value)))
    if not isinstance(value, str):
        return value
    v = value.strip()
    if v.isdigit():
        raise ValueError(_bare_number_hint(v))
    if _ISO_DATE.fullmatch(v):
        return v + "T00:00:00" if with_time else v
    if with_time and _ISO_DATETIME.fullmatch(v):
        return v.replace(",", ".")
    if not with_time and _ISO_DATETIME.fullmatch(v):
        raise ValueError(f"'{v}': this column takes a date without a time: YYYY-MM-DD")
    what = "YYYY-MM-DD or YYYY-MM-DD HH:MM" if with_time else "YYYY-MM-DD"
    raise ValueError(f"'{v}' is not a date; write {what} (ISO 8601)")


def _datetime_text(value: Any) -> Any:
    return _date_text(value, with_time=True)


def _day_text(value: Any) -> Any:
    return _date_text(value, with_time=False)


def _in_window(value: Any) -> Any:
    if value is None:
        return value
    day = value.date() if isinstance(value, datetime) else value
    earliest, latest = date_window()
    if day < earliest:
        raise ValueError(
            f"{day.isoformat()} is before {earliest.isoformat()} (the earliest date accepted; "
            f"see {EARLIEST_DATE_ENV})"
        )
    if day > latest:
        raise ValueError(f"{day.isoformat()} is in the future")
    return value


# -- text -------------------------------------------------------------------------------------
# Control characters other than tab, CR and LF (C0, DEL and C1) are never lab text: they come
# from binary data or a broken export, and NUL cannot be stored by PostgreSQL at all.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def without_control_characters(text: str) -> str:
    """``text`` with the characters :func:`control_character` names removed (what a search
    box keeps of pasted text)."""
    return _CONTROL.sub("", text)


def control_character(text: str) -> str | None:
    """Why ``text`` is not lab text (a control character other than tab, CR and LF), or None.
    Also used for what the forms do not validate: reasons, storage codes and names."""
    m = _CONTROL.search(text)
    if m is None:
        return None
    return (
        f"contains the control character U+{ord(m.group()):04X} at character "
        f"{m.start() + 1}; only tab and line breaks are allowed in text"
    )


def _plain_text(value: Any) -> Any:
    if isinstance(value, str):
        problem = control_character(value)
        if problem is not None:
            raise ValueError(problem)
    return value


def _position(value: Any) -> Any:
    if value is None:
        return None
    return str(value).strip().upper() or None


# Plausible ranges (docs/reliability.md): the largest ultracentrifuge rotors reach about
# 1,000,000 x g; a delay or spin of more than a year, or a conditioning of more than a year,
# is a typing mistake; samples are kept no colder than liquid nitrogen (-196 °C).
MAX_G_FORCE = 1_200_000
MAX_MINUTES = 525_600
MAX_HOURS = 8_760
MIN_TEMP_C = -200
MAX_TEMP_C = 100
# A tube or an isolation's input holds at most 100 L (a bioreactor's conditioned medium is
# litres); more is a typing mistake, such as a date typed into the column (20240111).
MAX_VOLUME_ML = 100_000
_NOT_FINITE = frozenset({"inf", "infinity", "nan"})


def _number_text(value: Any) -> Any:
    """Numbers are written plainly: no ``_`` digit separators, no inf/Infinity/NaN (a value
    too large for a float, such as 1e309, is refused by ``allow_inf_nan=False``)."""
    if isinstance(value, str):
        v = value.strip()
        if "_" in v:
            raise ValueError(f"'{v}' has a '_' digit separator; write the number without it")
        if v.lstrip("+-").lower() in _NOT_FINITE:
            raise ValueError(f"'{v}' is not a finite number")
        return v
    return value


def not_a_number(text: str, whole: bool = False) -> str:
    """The words for a cell or option that is not a number (``whole``: not a whole number),
    on every path (:func:`parse_finite`, :func:`field_errors`)."""
    if whole:
        return f"'{text}' is not a whole number"
    if "," in text:
        return f"'{text}' is not a number; use '.' as the decimal mark"
    return f"'{text}' is not a number"


# pydantic's bounds (``Field(ge=...)``), as :func:`field_errors` says them
_BOUNDS = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}
_NOT_A_NUMBER = {"float_parsing", "float_type", "decimal_parsing", "decimal_type"}
_NOT_WHOLE = {"int_parsing", "int_type", "int_from_float"}


def _number_words(err: Any) -> str | None:
    """Lab words for pydantic's refusal of a number (``Input should be a valid number,
    unable to parse string as a number``, ``Input should be less than or equal to 2100``);
    None for any other refusal."""
    kind = err.get("type")
    if kind in _NOT_A_NUMBER or kind in _NOT_WHOLE:
        return not_a_number(str(err.get("input", "")).strip(), whole=kind in _NOT_WHOLE)
    bound = _BOUNDS.get(kind)
    if bound is None or bound[1] not in err.get("ctx", {}):
        return None
    limit = err["ctx"][bound[1]]
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)
    return f"must be {bound[0]} {limit}"


def parse_finite(text: str) -> float:
    """A number typed outside an input model (a command-line option), read as :data:`Finite`
    reads it: written plainly, finite; a ValueError in plain words otherwise."""
    v = _number_text(text)
    try:
        number = float(v)
    except ValueError:
        raise ValueError(not_a_number(v)) from None
    if not math.isfinite(number):
        raise ValueError(f"'{v}' is not a finite number")
    return number


# Every number of every input model is one of these: finite, written plainly.
Finite = Annotated[float, BeforeValidator(_number_text), Field(allow_inf_nan=False)]
# Whole numbers are stored in 32-bit integer columns (PostgreSQL's ``integer``): a larger
# number is a row problem, never a database refusal or a silently wrapped value.
INT_MAX = 2_147_483_647
Whole = Annotated[int, BeforeValidator(_number_text), Field(ge=-INT_MAX - 1, le=INT_MAX)]

# (the lengths inside the identifier rule: checked by pydantic-core with the string, not by
# a Python check of the result after it; the same messages through field_errors)
Code = Annotated[str, Field(min_length=1, max_length=64), BeforeValidator(_code)]
OptCode = Code | None
Plain = Annotated[str, BeforeValidator(_plain_text)]
Text = Annotated[Plain, Field(max_length=4000)] | None
Short = Annotated[Plain, Field(max_length=256)] | None
# A name of a thing (species, kit lot, antibody, instrument): its column holds 128 characters.
Name = Annotated[Plain, Field(max_length=128)] | None
When = Annotated[
    datetime,
    BeforeValidator(_datetime_text),
    AfterValidator(_naive_datetime),
    AfterValidator(_in_window),
]
OptWhen = When | None
Day = Annotated[date, BeforeValidator(_day_text), AfterValidator(_in_window)]
NonNeg = Annotated[Finite, Field(ge=0)] | None
Positive = Annotated[Finite, Field(gt=0)]
Pct = Annotated[Finite, Field(ge=0, le=100)] | None
# Volumes (docs/reliability.md): a tube's, an isolation's input (mL) and its yield (uL).
TubeMl = Annotated[Finite, Field(ge=0, le=MAX_VOLUME_ML)] | None
InputMl = Annotated[Finite, Field(gt=0, le=MAX_VOLUME_ML)]
YieldUl = Annotated[Finite, Field(gt=0, le=MAX_VOLUME_ML * 1000)] | None
Temp = Annotated[Finite, Field(ge=MIN_TEMP_C, le=MAX_TEMP_C)] | None
Minutes = Annotated[Finite, Field(ge=0, le=MAX_MINUTES)] | None
Hours = Annotated[Finite, Field(ge=0, le=MAX_HOURS)] | None
GForce = Annotated[Finite, Field(gt=0, le=MAX_G_FORCE)] | None


def V(v: vocab.Vocabulary) -> Any:
    return BeforeValidator(_vocab(v))


class InputModel(BaseModel):
    """Blank strings and None mean "not given" (the field's default applies); surrounding spaces
    are dropped; unknown fields are refused."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _blank_is_none(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: v
                for k, v in data.items()
                if v is not None and not (isinstance(v, str) and not v.strip())
            }
        return data


class SubjectIn(InputModel):
    study: Code
    subject_id: Code
    sex: Annotated[str | None, V(vocab.SEX)] = None
    birth_year: Annotated[Whole, Field(ge=1880, le=2100)] | None = None
    group: Short = None
    diagnosis: Short = None
    enrolled_on: Day | None = None
    consent: Annotated[str | None, V(vocab.CONSENT)] = None
    notes: Text = None


class CellSourceIn(InputModel):
    cell_source_id: Code
    cell_type: Annotated[Plain, Field(min_length=1, max_length=256)]
    species: Name = None
    tissue_origin: Name = None
    donor: Name = None
    passage: Annotated[Whole, Field(ge=0)] | None = None
    confluency_pct: Pct = None
    viability_pct: Pct = None
    culture_medium: Short = None
    serum_condition: Annotated[str | None, V(vocab.SERUM_CONDITION)] = None
    conditioning_hours: Hours = None
    mycoplasma_result: Annotated[str | None, V(vocab.MYCOPLASMA)] = None
    mycoplasma_tested_on: Day | None = None
    authentication: Short = None
    notes: Text = None


class Location(BaseModel):
    freezer: str
    rack: str
    box: str
    position: str | None = None

    @property
    def box_path(self) -> str:
        return f"{self.freezer}/{self.rack}/{self.box}"

    def __str__(self) -> str:
        return self.box_path + (f"/{self.position}" if self.position else "")


# Distinct box paths and positions remembered by parse_location (a file's tubes fill a few
# boxes: a box path repeats across its 81 positions, a position across every box).
LOCATION_CACHE_LIMIT = 4_096
_BOX_PARTS: dict[str, tuple[str, str, str]] = {}  # "F/R/B" as written -> its parts, stripped
_POSITIONS: dict[str, str] = {}  # a position as written -> as stored


def parse_location(text: str) -> Location:
    """``FREEZER/RACK/BOX/POSITION`` (position optional for bags). The parts of a box path
    and a position already parsed are remembered (:data:`LOCATION_CACHE_LIMIT` of each): a
    location seen in parts before is put together from them, with the same result."""
    stripped = text.strip()
    head, _, pos = stripped.rpartition("/")
    # (a remembered box path has two slashes and no empty part: "head/pos" is a location
    # of four parts; a text that is a remembered box path is one without a position)
    parts = _BOX_PARTS.get(head)
    if parts is not None and pos:
        position = _POSITIONS.get(pos)
        if position is None:
            return _parsed_location(text, stripped)
    else:
        parts = _BOX_PARTS.get(stripped)
        if parts is None:
            return _parsed_location(text, stripped)
        position = None
    # (four texts, in its field order: what Location(...) would store, without validating
    # them again)
    return construct(
        Location,
        {"freezer": parts[0], "rack": parts[1], "box": parts[2], "position": position},
        set(_LOCATION_FIELDS),
    )


def _parsed_location(text: str, stripped: str) -> Location:
    """:func:`parse_location` of a location not put together from remembered parts: parsed,
    and its parts remembered."""
    m = LOCATION_RE.match(stripped)
    if not m:
        raise ValueError(
            f"'{text}' is not a location; write FREEZER/RACK/BOX/POSITION, e.g. F-80-1/R2/B07/C5"
        )
    freezer, rack, box, given = m.group("freezer", "rack", "box", "pos")
    pos = None
    if given is not None:
        pos = given.strip().upper()
        if not POSITION_RE.match(pos):
            raise ValueError(f"position '{pos}' must be a row letter and a column number, e.g. C5")
        if len(_POSITIONS) < LOCATION_CACHE_LIMIT:
            _POSITIONS[given] = pos
    parts = (freezer.strip(), rack.strip(), box.strip())
    if len(_BOX_PARTS) < LOCATION_CACHE_LIMIT:
        _BOX_PARTS[stripped[: m.end("box")]] = parts
    return construct(
        Location,
        {"freezer": parts[0], "rack": parts[1], "box": parts[2], "position": pos},
        set(_LOCATION_FIELDS),
    )


_LOCATION_FIELDS = frozenset(Location.model_fields)


def _location(value: Any) -> Any:
    if value is None or isinstance(value, Location):
        return value
    return parse_location(str(value))


#: SPREC sample types a biofluid may be written as (DOMAIN.md) that say more than the
#: biofluid: the urine void type, or a plasma spun twice (docs/import-formats.md).
SPREC_SAMPLE_TYPES: dict[str, tuple[str, str | None]] = {
    "URM": ("urine", "first_morning"),
    "URT": ("urine", "timed"),
    "U24": ("urine", "24h"),
    "PL2": ("plasma", None),
}


#: The SPREC type a biofluid derives when the void type or a second spin is not recorded.
_DEFAULT_SPREC_TYPES = {"urine": "URN", "plasma": "PL1"}


def _biofluid_or_sprec_type(v: vocab.Vocabulary) -> Callable[[Any], Any]:
    """The biofluid code, or one of :data:`SPREC_SAMPLE_TYPES` as given (SampleIn's
    ``_sprec_sample_type`` turns it into the biofluid and what it says)."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and (code := value.strip().upper()) in SPREC_SAMPLE_TYPES:
            return code
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return v.normalize(str(value))

    return check


# The columns that name the subject a tube comes from: given together or not at all.
_OF_A_SUBJECT = ("study", "subject_id", "visit")


class SampleIn(InputModel):
    sample_id: Code
    biofluid: Annotated[str, BeforeValidator(_biofluid_or_sprec_type(vocab.BIOFLUID))]
    collected_at: When
    study: OptCode = None
    subject_id: OptCode = None
    visit: OptCode = None
    tube: Annotated[str | None, V(vocab.TUBE)] = None
    volume_ml: TubeMl = None
    processed_at: OptWhen = None
    pre_centrifugation_delay_min: Minutes = None
    pre_centrifugation_temp: Annotated[
        str | None,
        BeforeValidator(
            lambda v: None if v is None else vocab.normalize_temperature_category(str(v))
        ),
    ] = None
    spin1_g: GForce = None
    spin1_min: Minutes = None
    spin1_temp_c: Temp = None
    spin1_brake: Annotated[str | None, V(vocab.BRAKE)] = None
    spin2_g: GForce = None
    spin2_min: Minutes = None
    spin2_temp_c: Temp = None
    spin2_brake: Annotated[str | None, V(vocab.BRAKE)] = None
    post_centrifugation_delay_min: Minutes = None
    post_centrifugation_temp: Annotated[
        str | None,
        BeforeValidator(
            lambda v: None if v is None else vocab.normalize_temperature_category(str(v))
        ),
    ] = None
    storage_temp_c: Temp = None
    storage_container: Annotated[str | None, V(vocab.STORAGE_CONTAINER)] = None
    sprec: Annotated[Plain, Field(max_length=32)] | None = None
    fasting: Annotated[str | None, V(vocab.YES_NO)] = None
    hemolysis: Annotated[str | None, V(vocab.HEMOLYSIS)] = None
    a414: Annotated[Finite, Field(ge=0, le=10)] | None = None
    urine_void: Annotated[str | None, V(vocab.URINE_VOID)] = None
    protease_inhibitor: Annotated[str | None, V(vocab.YES_NO)] = None
    cell_source_id: OptCode = None
    parent_sample_id: OptCode = None
    location: Annotated[Location | None, BeforeValidator(_location)] = None
    freeze_thaw_count: Annotated[Whole, Field(ge=0)] | None = None
    status: Annotated[str | None, V(vocab.SAMPLE_STATUS)] = None
    notes: Text = None

    @model_validator(mode="after")
    def _sprec_sample_type(self) -> SampleIn:
        """A biofluid written as URM, URT or U24 records the urine void type; PL2 gives the
        sample's SPREC code its type (double spun) where no second spin is recorded. A void
        type or SPREC code that contradicts it is refused."""
        given = self.biofluid
        if given not in SPREC_SAMPLE_TYPES:
            return self
        biofluid, void = SPREC_SAMPLE_TYPES[given]
        self.biofluid = biofluid
        if void is not None:
            if self.urine_void is None:
                self.urine_void = void
            elif self.urine_void != void:
                raise ValueError(
                    f"urine_void: is {self.urine_void} but the biofluid {given} is a {void} void"
                )
        if self.sprec is None:
            self.sprec = f"{given}-XXX-X-X-X-X-X"  # only its type: the rest is derived
        elif (typed := self.sprec.strip().upper().split("-")[0]) != given:
            if typed != _DEFAULT_SPREC_TYPES[biofluid]:
                raise ValueError(f"sprec: its sample type is {typed} but the biofluid is {given}")
            # URN/PL1 is what a tube without a void type or second spin derives (a stored
            # code merged into an edit): the biofluid's code says more
            self.sprec = given + self.sprec.strip()[len(typed) :]
        return self

    @model_validator(mode="after")
    def _source_rules(self) -> SampleIn:
        if self.parent_sample_id:
            return self  # an aliquot inherits its subject/visit/source from the parent
        if self.biofluid == "conditioned_medium":
            if not self.cell_source_id:
                raise ValueError("cell_source_id: conditioned_medium needs a cell_source_id")
            # from a subject too: then named as any tube of a subject is
            given = [f for f in _OF_A_SUBJECT if getattr(self, f)]
            absent = [f for f in _OF_A_SUBJECT if f not in given]
            if given and absent:
                raise ValueError(
                    f"{absent[0]}: required with {given[0]} (a tube of a subject names its "
                    "study, subject_id and visit)"
                )
        elif self.cell_source_id:
            # (stored only for conditioned medium: elsewhere it was dropped without a word)
            raise ValueError(
                f"cell_source_id: a {self.biofluid} tube comes from its subject; a cell "
                "source is given for conditioned_medium"
            )
        elif not (self.study and self.subject_id and self.visit):  # (each row: no list)
            missing = [f for f in _OF_A_SUBJECT if not getattr(self, f)]
            if missing:
                raise ValueError(
                    f"{missing[0]}: required for a {self.biofluid} sample "
                    "(study, subject_id and visit; or parent_sample_id for an aliquot)"
                )
        if self.processed_at and self.processed_at < self.collected_at:
            raise ValueError("processed_at: is before collected_at")
        return self


STEP_PARAM_COLUMNS: dict[str, dict[str, str]] = {
    # method code -> {param name: import column}
    "duc": {
        "g_force": "uc_g",
        "minutes": "uc_min",
        "rotor": "uc_rotor",
        "k_factor": "uc_k_factor",
        "temp_c": "uc_temp_c",
    },
    "sec": {"column": "sec_column", "fractions": "sec_fractions"},
    "uf": {"mwco_kda": "uf_mwco_kda"},
    "dg": {"medium": "dg_medium", "fractions": "dg_fractions"},
    "iac": {"capture": "iac_capture"},
}


@lru_cache(maxsize=256)
def _foreign_params(chain: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(method, column) of every step parameter whose method is not in ``chain``, in the
    order of STEP_PARAM_COLUMNS (the first given one is the problem named)."""
    return tuple(
        (method, col)
        for method, cols in STEP_PARAM_COLUMNS.items()
        if method not in chain
        for col in cols.values()
    )


class StepIn(BaseModel):
    method: Annotated[str, Field(max_length=32)]
    params: dict[str, Any] = Field(default_factory=dict)


class IsolationIn(InputModel):
    isolation_id: Code
    sample_id: Code
    isolated_on: Day
    method: Annotated[
        list[str],
        BeforeValidator(lambda v: v if isinstance(v, list) else vocab.parse_method_chain(str(v))),
    ]
    input_volume_ml: InputMl
    kit: Short = None
    kit_lot: Name = None
    uc_g: GForce = None
    uc_min: Minutes = None
    uc_rotor: Short = None
    uc_k_factor: NonNeg = None
    uc_temp_c: Temp = None
    sec_column: Short = None
    sec_fractions: Short = None
    uf_mwco_kda: NonNeg = None
    dg_medium: Short = None
    dg_fractions: Short = None
    iac_capture: Short = None
    final_volume_ul: YieldUl = None
    resuspension_buffer: Name = None
    operator: Annotated[Plain, Field(max_length=64)] | None = None
    notes: Text = None

    @model_validator(mode="after")
    def _params_match_methods(self) -> IsolationIn:
        for method, col in _foreign_params(tuple(self.method)):
            if getattr(self, col) is not None:
                raise ValueError(
                    f"{col}: given, but the method chain '{'+'.join(self.method)}' has no "
                    f"{method} step"
                )
        return self

    def steps(self) -> list[StepIn]:
        """The ordered steps with the parameters that belong to each method."""
        out = []
        for method in self.method:
            cols = STEP_PARAM_COLUMNS.get(method, {})
            params = {p: getattr(self, c) for p, c in cols.items() if getattr(self, c) is not None}
            out.append(StepIn(method=method, params=params))
        return out


class ReadoutIn(InputModel):
    isolation_id: OptCode = None
    sample_id: OptCode = None
    analyte: Annotated[
        str,
        BeforeValidator(lambda v: normalize_analyte_code(str(v))),
        Field(min_length=1, max_length=64),
    ]
    value: str
    unit: Annotated[Annotated[str, Field(max_length=32)] | None, BeforeValidator(_unit)] = None
    assay: Annotated[str, V(vocab.ASSAY)]
    run_id: OptCode = None
    measured_on: Day | None = None
    replicate: Annotated[Whole, Field(ge=1)] = 1
    lod: NonNeg = None
    lloq: NonNeg = None
    uloq: NonNeg = None
    antibody: Name = None
    antibody_dilution: Annotated[Plain, Field(max_length=32)] | None = None
    lysis_buffer: Name = None
    instrument: Name = None
    qc: Annotated[str | None, V(vocab.QC)] = None
    notes: Text = None
    well: Annotated[str, Field(max_length=64)] | None = None  # plate well or NTA video
    dilution_factor: Annotated[float, Field(gt=0)] | None = None
    decimal_comma: Annotated[bool, Field(exclude=True)] = False

    @model_validator(mode="after")
    def _target_and_value(self, info: ValidationInfo) -> ReadoutIn:
        # the rules across fields, shared with the bulk loader (domain/readout_rules.py; the
        # limits first: the bulk loader checks them with the run's columns, before the row);
        # an edit validates the stored readout with its changes over it and names them in
        # the context ({"changed": columns}: the limit it changed is the one named)
        changed = info.context.get("changed") if isinstance(info.context, dict) else None
        broken = (
            limits_rule(self.lod, self.lloq, self.uloq, self.unit, changed)
            or target_rule(bool(self.isolation_id), bool(self.sample_id))
            or unit_rule(self.unit, self.parsed())
        )
        if broken is not None:
            raise ValueError(f"{broken[0]}: {broken[1]}")
        return self

    def parsed(self) -> ParsedResult:
        try:
            return parse_result(
                self.value,
                decimal_comma=self.decimal_comma,
                lod=self.lod,
                lloq=self.lloq,
                uloq=self.uloq,
                unit=self.unit,
            )
        except ValueError as exc:
            raise ValueError(f"value: {exc}") from exc


def field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """Turn a pydantic error into (field, plain message) pairs."""
    out: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
        msg = str(err.get("msg", "invalid"))
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        field = loc[0] if loc else ""
        if not field:
            # model-level rules put the field first: "field: message"
            head, sep, rest = msg.partition(": ")
            if sep and re.fullmatch(r"[a-z0-9_]+", head):
                field, msg = head, rest
        if field and msg.startswith(field + ": "):
            msg = msg[len(field) + 2 :]
        if (plain := _number_words(err)) is not None:
            msg = plain
        elif err.get("type") == "missing":
            msg = "required"
        elif err.get("type") == "extra_forbidden":
            msg = "unknown field"
        elif err.get("type") == "too_long" and "max_length" in err.get("ctx", {}):
            # a text checked after cleaning (Plain): pydantic counts "items"
            ctx = err["ctx"]
            msg = f"String should have at most {ctx['max_length']} characters"
        out.append((field, msg))
    return out
