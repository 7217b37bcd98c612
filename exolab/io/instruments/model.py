"""The common shape every instrument parser returns (pure data, no database).

A parser reads one export into a :class:`ParsedRun`: the run header, settings, standard
curve and controls, the measurements that become readouts (one per well, video or
position), what it left out and why, and warnings. ``exolab.io.instrument_import`` turns the
measurements into readout rows that go through the ordinary readout rules
(docs/instruments.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exolab.services.errors import ExolabError

ROLES = ("sample", "standard", "ntc", "blank", "control")


class InstrumentFileError(ExolabError):
    """The file cannot be read as the instrument format: ``FILE:WHERE: message``."""


@dataclass
class RunHeader:
    instrument_model: str | None = None
    instrument_serial: str | None = None
    software_version: str | None = None
    operator: str | None = None
    experiment: str | None = None
    run_at_text: str | None = None  # the date-time exactly as written in the file
    run_at: datetime | None = None  # the local date-time as written (no zone applied)
    run_tz: str | None = None  # the zone as written ("EDT"), if any
    dilution_factor: float | None = None  # a whole-run dilution (NTA, ZetaView)
    values_corrected: bool | None = None  # True: the file's values already include it
    cycles: int | None = None  # qPCR: the run's cycle count (limit of "not detected")


@dataclass
class Measurement:
    """One result of the file: a candidate readout (role sample) or a run control."""

    name: str  # the sample name as the instrument wrote it (what --map ties to an id)
    position: str  # well (A1), plate:well, or NTA video: how problems name it
    target: str  # the analyte as the file names it (target, "particle_concentration")
    value: str  # result text for parse_result: "27.102", "Undetermined", ">ULOQ"
    unit: str | None
    role: str = "sample"
    dilution_factor: float | None = None
    lod: float | None = None
    lloq: float | None = None
    uloq: float | None = None
    qc: str | None = None
    notes: str | None = None


@dataclass
class LeftOut:
    position: str
    name: str
    reason: str


@dataclass
class ParsedRun:
    format: str
    parser_version: str
    assay: str  # exolab's assay vocabulary: nta, qpcr, ddpcr, bca, elisa
    header: RunHeader
    measurements: list[Measurement] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    standard_curve: dict[str, Any] = field(default_factory=dict)
    controls: list[dict[str, Any]] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    position_word: str = "WELL"  # how a position is named in messages (WELL, VIDEO)

    @property
    def samples(self) -> list[Measurement]:
        return [m for m in self.measurements if m.role == "sample"]

    def sample_names(self) -> list[str]:
        """The distinct sample names in file order."""
        seen: dict[str, None] = {}
        for m in self.samples:
            seen.setdefault(m.name, None)
        return list(seen)


_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?(?:[eE][+-]?\d+)?")


def number(text: str) -> float | None:
    """A plain number as instruments write it ("5,720.562" with thousands commas too), or
    None for blanks and flags. A comma is read only as a thousands separator (groups of three
    digits): a decimal comma ("2,5", "2,10E+7") is not a number here, never 25 or 210E+7."""
    s = text.strip() if text else ""
    if not s:
        return None
    if "," in s:
        if not _THOUSANDS.fullmatch(s):
            return None
        s = s.replace(",", "")
    try:
        value = float(s)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")


def decimal_point(text: str, comma_is_decimal: bool) -> str:
    """A number written with a decimal comma (``21,19``) as ``21.19`` when the file's
    separator is ``;`` or a tab (a spreadsheet in a decimal-comma locale); else unchanged."""
    s = text.strip()
    if comma_is_decimal and _DECIMAL_COMMA.fullmatch(s):
        return s.replace(",", ".")
    return text


def csv_delimiter(first_line: str) -> str:
    """``,``, ``;`` or a tab: whichever the header line holds most of."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def dilution(text: str | None, where: str) -> float | None:
    """A dilution cell: None when empty, else a positive number; anything else (``0``,
    ``-1``, ``x``, ``inf``, a decimal comma) is an error naming ``where``, never read as no
    dilution."""
    s = (text or "").strip()
    if not s:
        return None
    f = number(s)
    if f is None or f <= 0:
        raise InstrumentFileError(f"{where}: the dilution {s!r} is not a positive number")
    return f


def text_of(data: bytes, *, errors: str = "strict") -> str:
    """Decode an export: UTF-16 with a BOM (or without one: NUL bytes in every other place),
    UTF-8 (with or without BOM), else Latin-1.

    ``errors="replace"`` is for recognising a file by its head (which may end inside a
    character); a parser decodes strictly, so a UTF-16 file cut mid-character is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors=errors)
    head = data[:64]
    if len(head) >= 4 and b"\x00" in head:  # text never holds NUL: UTF-16 without its BOM
        if head[1::2].count(0) > len(head) // 4 and head[0::2].count(0) == 0:
            return data.decode("utf-16-le", errors=errors)
        if head[0::2].count(0) > len(head) // 4 and head[1::2].count(0) == 0:
            return data.decode("utf-16-be", errors=errors)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")
