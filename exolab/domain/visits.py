"""Visit day: the one definition (docs/longitudinal.md, "Visit day"), used by the
longitudinal stream, the subject view and cohort summaries (whose SQL computes the same
calendar-day difference and is checked against this function by an agreement test).

visit_day = calendar days from the subject's first collection in the study (over all of its
samples, any biofluid) to a collection; the first collection is day 0. A visit's day is the
day of its earliest collection.
"""

from __future__ import annotations

from datetime import date, datetime

__all__ = ["as_date", "visit_day"]


def as_date(value: date | datetime | str) -> date:
    """The calendar date of a collection time (a datetime, a date, or ISO text as SQLite
    returns it)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def visit_day(collected: date | datetime | str, first_collection: date | datetime | str) -> int:
    """Calendar days from the subject's first collection to ``collected``."""
    return (as_date(collected) - as_date(first_collection)).days
