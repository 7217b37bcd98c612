"""Instrument date-times as they write them: ``16/06/2020``, ``2010-10-21 00:51:26 AM EDT``,
``28-FEB-2013``, ``10/10/2022`` with ``9:00:04 PM``. A day/month order that the text does not
settle (``03/04/2021``) needs ``--date-order dmy|mdy``; the 1970-01-01 placeholder some
software writes for "no date" is refused (docs/instruments.md)."""

from __future__ import annotations

import re
from datetime import date, datetime, time

from exolab.io.instruments.model import InstrumentFileError

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SLASH = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
_MON = re.compile(r"^(\d{1,2})[- ]([A-Za-z]{3})[- ](\d{4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:\s*([AaPp][Mm]))?$")
_ZONE = re.compile(r"^(?:[A-Z]{2,5}|[+-]\d{2}:?\d{2}|Z)$")


def parse_date(text: str, where: str, date_order: str | None = None) -> date:
    s = text.strip()
    m = _ISO.match(s)
    try:
        if m:
            d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        elif m := _MON.match(s):
            month = _MONTHS.get(m.group(2).upper())
            if month is None:
                raise InstrumentFileError(f"{where}: unknown month in date {s!r}")
            d = date(int(m.group(3)), month, int(m.group(1)))
        elif m := _SLASH.match(s):
            a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if a > 12 or date_order == "dmy":
                day, month = a, b
            elif b > 12 or date_order == "mdy":
                day, month = b, a
            elif a == b:
                day = month = a
            else:
                raise InstrumentFileError(
                    f"{where}: the date {s!r} can be read day/month or month/day; "
                    "give --date-order dmy or --date-order mdy"
                )
            d = date(y, month, day)
        else:
            raise InstrumentFileError(
                f"{where}: cannot read the date {s!r} (expected e.g. 2020-06-16, 16/06/2020, "
                "28-FEB-2013)"
            )
    except ValueError:
        raise InstrumentFileError(f"{where}: {s!r} is not a calendar date") from None
    if d == date(1970, 1, 1):
        raise InstrumentFileError(
            f"{where}: the date {s!r} is the 1970-01-01 placeholder instruments write when the "
            "clock was not set; correct the run date in the file or leave it empty"
        )
    return d


def parse_time(text: str, where: str) -> time:
    s = text.strip()
    m = _TIME.match(s)
    if m is None:
        raise InstrumentFileError(f"{where}: cannot read the time {s!r}")
    h, mi, se = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    micro = int((m.group(4) or "0")[:6].ljust(6, "0"))
    ampm = (m.group(5) or "").upper()
    if ampm:
        if not 0 <= h <= 12:
            raise InstrumentFileError(f"{where}: {s!r}: hour {h} with {ampm}")
        if ampm == "PM" and h < 12:
            h += 12
        elif ampm == "AM" and h == 12:
            h = 0
    try:
        return time(h, mi, se, micro)
    except ValueError:
        raise InstrumentFileError(f"{where}: {s!r} is not a time of day") from None


def parse_datetime(
    text: str, where: str, date_order: str | None = None
) -> tuple[datetime, str | None]:
    """(local date-time as written, zone text or None). Accepts ``DATE``, ``DATE TIME``,
    ``DATE TIME AM|PM [ZONE]`` and ISO ``DATE'T'TIME[zone]``."""
    s = text.strip()
    iso = re.match(r"^(\d{4}-\d{2}-\d{2})T([\d:.]+)(Z|[+-]\d{2}:?\d{2})?$", s)
    if iso:
        d = parse_date(iso.group(1), where, date_order)
        return datetime.combine(d, parse_time(iso.group(2), where)), iso.group(3)
    parts = s.split()
    if not parts:
        raise InstrumentFileError(f"{where}: empty date")
    d = parse_date(parts[0], where, date_order)
    rest = parts[1:]
    zone = None
    if rest and _ZONE.match(rest[-1]) and rest[-1].upper() not in ("AM", "PM"):
        zone = rest.pop()
    if not rest:
        return datetime.combine(d, time()), zone
    return datetime.combine(d, parse_time(" ".join(rest), where)), zone
