"""Finding an analyte by the name a user gives: one function for every reader and writer
(the CLI's patient/cohort/compare, the UI's filters, the readout service and imports).
The rule is :func:`exolab.domain.markers.resolve_analyte` (docs/import-formats.md,
"Analytes"). Plain SQL on a :class:`exolab.db.raw.Reader`, so that the driver-only read
paths can use it: this module imports neither SQLAlchemy nor pydantic.
"""

from __future__ import annotations

from exolab.db.raw import Reader
from exolab.domain.markers import normalize_analyte_code, resolve_analyte

__all__ = ["find_analyte"]


def find_analyte(reader: Reader, text: str) -> int | None:
    """Primary key of the analyte ``text`` names (code, built-in name or synonym, or a
    synonym an admin added), or None when there is none."""
    row = reader.first(
        "SELECT id FROM analytes WHERE code = :code", {"code": normalize_analyte_code(text)}
    )
    if row is not None:
        return int(row[0])
    found = resolve_analyte(text, reader.all("SELECT id, code, synonyms FROM analytes ORDER BY id"))
    return None if found is None else int(found)
