"""The readout write rules, each defined once (docs/bulk-imports.md, "Readouts: one pipeline").

Every path that writes readouts — ``exolab readout add``, the UI grid, ``exolab import
readouts`` (bulk or row by row) and instrument imports — applies these functions:

- the row rule across fields (:func:`target_and_value`): exactly one of isolation or sample,
  and a unit for a numeric result; :class:`exolab.domain.schemas.ReadoutIn` runs it as its
  model validator and the bulk loader once per distinct shape of row;
- the limits rule (:func:`limits_rule`): ``uloq`` not below ``lloq``, ``lod`` not above
  ``uloq``; ReadoutIn runs it with the row rule, the bulk loader once per distinct context
  (the limits repeat across a run's rows);
- the per-column rules are ReadoutIn's field annotations, applied column by column by
  :mod:`exolab.domain.readout_columns` (the bulk loader's cached validation);
- the natural key (:data:`KEY_COLUMNS`, :func:`key_text`);
- the run rule (:func:`run_mismatch`): a run code belongs to one assay.

The ragged-row rule, a rule of every import file, is :func:`exolab.io.reading.ragged_row`.

No database and no pydantic internals here: plain functions of plain values.
"""

from __future__ import annotations

from collections.abc import Collection

from exolab.domain.values import CT_UNIT, ParsedResult, format_number

__all__ = [
    "KEY_COLUMNS",
    "KEY_NAME",
    "LIMIT_COLUMNS",
    "NUMERIC_COLUMNS",
    "duplicate_message",
    "key_text",
    "limits_rule",
    "run_mismatch",
    "target_and_value",
    "target_rule",
    "unit_rule",
]

#: The natural key of a readout, as import columns: the target is the isolation if given,
#: else the sample (docs/import-formats.md, readouts).
KEY_COLUMNS = ("isolation_id", "sample_id", "analyte", "assay", "run_id", "replicate")
#: How the key is named in messages.
KEY_NAME = "target, analyte, assay, run_id, replicate"
#: Columns holding numbers (a decimal comma file writes them with a comma).
NUMERIC_COLUMNS = ("lod", "lloq", "uloq", "dilution_factor")


def target_rule(has_isolation: bool, has_sample: bool) -> tuple[str, str] | None:
    """Exactly one target: (column, message) when broken, else None."""
    if has_isolation == has_sample:
        return "isolation_id", "give exactly one of isolation_id or sample_id"
    return None


def unit_rule(unit: str | None, parsed: ParsedResult) -> tuple[str, str] | None:
    """A numeric result needs a unit: (column, message) when broken, else None."""
    if parsed.qualitative is None and unit is None and parsed.value is not None:
        return "unit", "required for a numeric result"
    return None


LIMIT_COLUMNS = frozenset({"lod", "lloq", "uloq"})


def limits_rule(
    lod: float | None,
    lloq: float | None,
    uloq: float | None,
    unit: str | None,
    changed: Collection[str] | None = None,
) -> tuple[str, str] | None:
    """The limits in their order (docs/import-formats.md, "Limits"): ``uloq`` not below
    ``lloq``, ``lod`` not above ``uloq`` -- the other way round is a typing error (columns
    swapped), which would censor results against the wrong limit. ``lod`` above ``lloq`` is
    allowed (a detection limit from the blanks can lie above the lowest standard that
    recovered). Not checked in the unit ``{Ct}``, where a higher number is less of the target
    and the limits' order is the other way round.

    (column, message) when broken, else None. The column is ``uloq`` (``lod`` for a ``lod``
    above ``uloq``); ``changed``: the columns an edit gives (the stored readout with these
    over it is what is checked), so that an edit of ``lloq`` alone over a stored ``uloq`` is
    named by ``lloq``. An edit that gives no limit is not checked: a readout stored with its
    limits out of order before this rule (``exolab db check`` names it) still takes a
    correction of its other columns."""
    if unit == CT_UNIT or uloq is None:
        return None
    if changed is not None and not LIMIT_COLUMNS.intersection(changed):
        return None
    if lloq is not None and uloq < lloq:
        if changed is not None and "uloq" not in changed and "lloq" in changed:
            return "lloq", f"{format_number(lloq)} is above uloq {format_number(uloq)}"
        return "uloq", f"{format_number(uloq)} is below lloq {format_number(lloq)}"
    if lod is not None and lod > uloq:
        if changed is not None and "lod" not in changed and "uloq" in changed:
            return "uloq", f"{format_number(uloq)} is below lod {format_number(lod)}"
        return "lod", f"{format_number(lod)} is above uloq {format_number(uloq)}"
    return None


def target_and_value(
    has_isolation: bool, has_sample: bool, unit: str | None, parsed: ParsedResult
) -> tuple[str, str] | None:
    """The rule across a readout's fields (:func:`target_rule` first, then
    :func:`unit_rule`): (column, message) when broken, else None."""
    return target_rule(has_isolation, has_sample) or unit_rule(unit, parsed)


def key_text(target: str, analyte: str, assay: str, run_id: str | None, replicate: int) -> str:
    """A readout's natural key as one text: the audit trail's ``entity_id`` of a readout."""
    return f"{target}/{analyte}/{assay}/{run_id or ''}/{replicate}"


def parse_key_text(text: str) -> tuple[str, str, str, str, int]:
    """The parts of :func:`key_text` (target, analyte, assay, run code, replicate)."""
    target, analyte, assay, run, rep = text.split("/")
    return target, analyte, assay, run, int(rep)


def duplicate_message(first_row: int | None) -> str:
    """A row whose key an earlier row of the same file already has."""
    where = f"also on row {first_row}" if first_row else "repeated in the file"
    return f"duplicate readout key ({KEY_NAME}): {where}"


def run_mismatch(run_code: str, stored_assay: str | None, assay: str) -> str | None:
    """A run code names one assay run: the problem when a row gives it another assay."""
    if stored_assay is not None and stored_assay != assay:
        return f"run {run_code} belongs to assay {stored_assay}, not {assay}"
    return None
