"""Readout columns validated one at a time, by the rules ReadoutIn declares for them.

:class:`exolab.domain.schemas.ReadoutIn` is the one definition of each column's rule (type,
vocabulary, unit, bounds, date window). The bulk loader validates a million rows column by
column instead of building a model per row: :class:`ColumnCheck` applies one field's rule (the
model's public ``model_fields`` annotation, through a ``TypeAdapter``) and remembers the result
per distinct cell text, since a file has few distinct units, assays, dates and limits. The row
rule across columns is :func:`exolab.domain.readout_rules.target_and_value` for both.
Changing a column's rule in ReadoutIn changes both paths (docs/bulk-imports.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from exolab.domain.readout_rules import NUMERIC_COLUMNS
from exolab.domain.schemas import ReadoutIn, field_errors

__all__ = ["CACHE_LIMIT", "ColumnCheck", "Invalid"]

CACHE_LIMIT = 50_000  # distinct texts remembered per column (then the cache starts afresh)
_MISSING = object()


class Invalid:
    """A column value's validation failure (cached like a valid value)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class ColumnCheck:
    """One ReadoutIn column's rule, cached by input text: ``check(text)`` returns the validated
    value or an :class:`Invalid`. ``decimal_point`` turns a decimal comma file's number into
    the form the rule reads (applied to numeric columns only)."""

    def __init__(self, name: str, decimal_point: Callable[[str], str] | None = None) -> None:
        info = ReadoutIn.model_fields[name]
        self.name = name
        annotation: Any = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        self.adapter: TypeAdapter[Any] = TypeAdapter(
            annotation, config=ConfigDict(str_strip_whitespace=True)
        )
        self.required = info.is_required()
        self.default = None if self.required else info.get_default(call_default_factory=True)
        self.decimal_point = decimal_point if name in NUMERIC_COLUMNS else None
        self.cache: dict[str, Any] = {}

    def __call__(self, text: str) -> Any:
        hit = self.cache.get(text, _MISSING)
        if hit is not _MISSING:
            return hit
        if not text:
            result: Any = Invalid("required") if self.required else self.default
        else:
            try:
                result = self.adapter.validate_python(
                    self.decimal_point(text) if self.decimal_point else text
                )
            except ValidationError as exc:
                result = Invalid("; ".join(msg for _, msg in field_errors(exc)))
            except ValueError as exc:
                result = Invalid(str(exc))
        if len(self.cache) >= CACHE_LIMIT:
            self.cache.clear()
        self.cache[text] = result
        return result
