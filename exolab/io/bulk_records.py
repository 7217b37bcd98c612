"""Reading a subjects, cell sources, samples or isolations file for the bulk import
(docs/bulk-imports.md): rows in, validated input models out, chunk by chunk. The database
side (set-based reads, the rules that need stored records, the writes and their audit events)
is :mod:`exolab.services.bulk_records`.

Each row is validated by the same input model the per-record path uses (``SubjectIn``,
``CellSourceIn``, ``SampleIn``, ``IsolationIn``), column by column: every field's own
validator (a pydantic ``TypeAdapter`` of the field's public annotation and metadata) runs once
per distinct value of its column, the model's row rules run on every row, and a row that fails
anything is validated again by the whole model, so its problems are exactly the per-record
path's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from exolab.domain.schemas import CellSourceIn, IsolationIn, SampleIn, SubjectIn
from exolab.io.cells import import_cell
from exolab.io.problems import Problems
from exolab.io.reading import CsvFile
from exolab.services.bulk_records import Chunk, RowRules, write_records
from exolab.services.common import validate
from exolab.services.context import Tx
from exolab.services.errors import ValidationFailed

CHUNK_ROWS = 5_000
CACHE_VALUES = 20_000  # distinct values remembered per column (a column of ids has no repeats)

# The model rules that run on the whole row after its fields (pydantic ``mode="after"``
# model validators, the models' own methods): the fast path runs them itself.
_Rule = Callable[[Any], Any]
_ROW_RULES: dict[type[BaseModel], tuple[_Rule, ...]] = {
    SampleIn: (cast(_Rule, SampleIn._source_rules),),
    IsolationIn: (cast(_Rule, IsolationIn._params_match_methods),),
    SubjectIn: (),
    CellSourceIn: (),
}
_MISSING = object()


class RowValidator:
    """``validate(model, row)`` with each column's validation done once per distinct value.

    The result of a row that passes is the model the whole-model validation gives (same
    values, same fields set); a row with any problem is handed to the whole model, which
    raises its exact :class:`ValidationFailed`."""

    def __init__(self, model: type[BaseModel]) -> None:
        if model not in _ROW_RULES:
            raise ValueError(f"no row rules known for {model.__name__}")
        self.model = model
        config = ConfigDict(
            str_strip_whitespace=bool(model.model_config.get("str_strip_whitespace"))
        )
        self.adapters: dict[str, TypeAdapter[Any]] = {}
        for name, info in model.model_fields.items():
            tp: Any = info.annotation
            if info.metadata:
                tp = Annotated[(tp, *info.metadata)]
            self.adapters[name] = TypeAdapter(tp, config=config)
        self.required = frozenset(n for n, i in model.model_fields.items() if i.is_required())
        self.cache: dict[str, dict[str, Any]] = {n: {} for n in model.model_fields}
        self.rules = _ROW_RULES[model]

    def __call__(self, data: dict[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for col, raw in data.items():
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue  # blank means not given (InputModel._blank_is_none)
            cache = self.cache.get(col)
            if cache is None:  # not a field: the model names the problem
                return validate(self.model, data)
            value = cache.get(raw, _MISSING)
            if value is _MISSING:
                try:
                    value = self.adapters[col].validate_python(raw)
                except ValidationError:
                    return validate(self.model, data)
                if len(cache) < CACHE_VALUES and _immutable(value):
                    cache[raw] = value
            values[col] = value
        if not self.required <= values.keys():
            return validate(self.model, data)
        m = self.model.model_construct(**values)
        try:
            for rule in self.rules:
                rule(m)
        except ValueError:
            return validate(self.model, data)
        return m


def _immutable(value: Any) -> bool:
    return (
        value is None or isinstance(value, str | int | float | tuple) or hasattr(value, "isoformat")
    )


def read_chunks(kind: Any, src: CsvFile, index: dict[str, int], rules: RowRules) -> Iterator[Chunk]:
    """(row number, cells, validated model or its ValidationFailed / the ragged-row column
    and message), in chunks of :data:`CHUNK_ROWS` rows."""
    width = len(src.header)
    check = RowValidator(kind.model)
    columns = list(index.items())
    decimal_comma = src.decimal_comma
    chunk: Chunk = []
    for rownum, fields in src.rows():
        if len(fields) == width:  # (as importer.row_values, without the call per cell)
            data: dict[str, Any] | None = {
                col: (import_cell(v) if (v := fields[i]) else "") for col, i in columns
            }
            ragged = None
        else:
            data, ragged = rules.row_values(fields, width, index)
        if data is None:
            column = src.ragged_column(len(fields))  # as the per-record path names it
            chunk.append((rownum, None, (column, ragged or "ragged row")))
        else:
            if decimal_comma:
                rules.convert_numbers(kind, data, decimal_comma)
            try:
                chunk.append((rownum, data, check(data)))
            except ValidationFailed as exc:
                chunk.append((rownum, data, exc))
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def import_records(
    tx: Tx,
    kind: Any,
    src: CsvFile,
    index: dict[str, int],
    report: Any,
    problems: Problems,
    on_duplicate: str,
    create_locations: bool,
    rules: RowRules,
) -> None:
    """Import a subjects, cell sources, samples or isolations file in bulk into the import's
    transaction."""
    write_records(
        tx,
        kind,
        read_chunks(kind, src, index, rules),
        report,
        problems,
        on_duplicate,
        create_locations,
        rules,
    )
