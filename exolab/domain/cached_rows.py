"""An input model's rules applied to the rows of a large file one cell at a time, each distinct
cell validated once (docs/bulk-imports.md, "Validation").

The rules are the model's own: each field is validated by a ``TypeAdapter`` of the field's
own annotation (its type, ``BeforeValidator``/``AfterValidator`` functions and bounds, with the
model's ``str_strip_whitespace``), a blank cell leaves the field at its default (the model's
``_blank_is_none``), and the model's ``after`` validators (the rules across fields) run on
the result. Only rows that pass everything are built this way; any row with a failing cell,
a failing rule across fields or a cell that is blank once cleaned is validated by the model
itself, so a refused row gets exactly the model's problems (``tests/domain/test_cached_rows.py``
holds both ways to the same results).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic_core import SchemaValidator

M = TypeVar("M", bound=BaseModel)

CACHE_LIMIT = 10_000  # distinct cells remembered per column (unique ids are never hit again:
# a bounded cache keeps their memory small; repeated cells are found well within it)
_BAD = object()  # a cell its field refuses
_BLANK = object()  # a cell that is blank once cleaned


def usable(model: type[BaseModel], columns: list[str]) -> bool:
    """Whether ``model``'s rules can be applied cell by cell: its only ``before`` rule is the
    blank-is-not-given rule, it has no field validators of its own and every column is one of
    its fields (otherwise rows take the model)."""
    deco = model.__pydantic_decorators__
    before = [n for n, d in deco.model_validators.items() if d.info.mode != "after"]
    return (
        before == ["_blank_is_none"]
        and not deco.field_validators
        and not deco.validators
        and not deco.computed_fields
        and set(columns) <= model.model_fields.keys()
        and not model.__pydantic_post_init__
        and not model.__pydantic_root_model__
        and model.model_config.get("extra") != "allow"
    )


def _slot_setter(name: str) -> Callable[[Any, Any], None]:
    """How ``object.__setattr__(m, name, v)`` sets one of BaseModel's own slots, found once
    (its descriptor's ``__set__``: no lookup by name per model built)."""
    slot = BaseModel.__dict__.get(name)
    if slot is None or not hasattr(slot, "__set__"):
        return lambda m, v: object.__setattr__(m, name, v)
    return slot.__set__  # type: ignore[no-any-return]


_SET_DICT = _slot_setter("__dict__")
_SET_FIELDS_SET = _slot_setter("__pydantic_fields_set__")
_SET_EXTRA = _slot_setter("__pydantic_extra__")
_SET_PRIVATE = _slot_setter("__pydantic_private__")


def construct(model: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """``model.model_construct(_fields_set=fields_set, **values)`` for ``values`` that hold
    every field in the model's order: what it stores, without its walk over the fields (for
    a model :func:`usable` accepts: no extra fields, no post-init, not a root model)."""
    m = model.__new__(model)
    _SET_DICT(m, values)
    _SET_FIELDS_SET(m, fields_set)
    _SET_EXTRA(m, None)
    _SET_PRIVATE(m, None)
    return m


def _compiled_fields(model: type[BaseModel]) -> dict[str, Callable[[Any], Any]]:
    """Each field's validator made from the model's own compiled schema (pydantic-core's
    schema of the field, with the model's core config): the same rules as building it again
    from the field's annotation, for ~1/100 of the cost (a TypeAdapter per column took ~0.4
    ms: 15 ms for a samples file). Empty when the model's schema is not the plain shape
    (model validators around a model of fields): the caller then builds adapters."""
    schema: Any = model.__pydantic_core_schema__
    while schema.get("type") in ("function-after", "function-before"):
        schema = schema["schema"]
    if schema.get("type") != "model":
        return {}
    config = schema.get("config")
    inner = schema["schema"]
    while inner.get("type") in ("function-after", "function-before"):
        inner = inner["schema"]
    if inner.get("type") != "model-fields":
        return {}
    out: dict[str, Callable[[Any], Any]] = {}
    for name, field in inner["fields"].items():
        try:
            out[name] = SchemaValidator(field["schema"], config).validate_python
        except Exception:  # (a field that refers to the model's definitions: an adapter)
            continue
    return out


class CachedRows(Generic[M]):
    """Rows of ``model`` from cells (text): :meth:`row` gives the model, or None when the
    row must be validated by the model itself."""

    def __init__(
        self, model: type[M], columns: list[tuple[str, int]], clean: Callable[[str], str]
    ) -> None:
        self.model = model
        self.clean = clean
        config = ConfigDict(
            str_strip_whitespace=bool(model.model_config.get("str_strip_whitespace"))
        )
        fields = model.model_fields
        # every field in the model's order: its default, or None for a required field (a
        # row without it never gets here)
        self.defaults = {
            name: None if fi.is_required() else fi.get_default(call_default_factory=True)
            for name, fi in fields.items()
        }
        self.required = frozenset(n for n, fi in fields.items() if fi.is_required())
        self.checks: dict[str, Callable[[Any], Any]] = {}
        compiled = _compiled_fields(model)
        for name, _ in columns:
            check = compiled.get(name)
            if check is None:
                fi = fields[name]
                kind: Any = (
                    Annotated[(fi.annotation, *fi.metadata)] if fi.metadata else fi.annotation
                )
                # (the adapter's compiled validator itself: its Python wrapper costs a call)
                check = TypeAdapter(kind, config=config).validator.validate_python
            self.checks[name] = check
        self.columns = columns
        self.caches: dict[str, dict[str, Any]] = {name: {} for name, _ in columns}
        self.copied: set[str] = set()  # fields whose values are lists (each row gets a copy)
        self.after = [
            d.func
            for d in model.__pydantic_decorators__.model_validators.values()
            if d.info.mode == "after"
        ]
        # per pattern of given cells: the columns to read, the fields set (shared) and the
        # number of blank cells; the last row's
        self.shapes: dict[tuple[bool, ...], tuple[Any, ...]] = {}
        self.last: tuple[Any, ...] | None = None

    def _cell(self, name: str, cache: dict[str, Any], raw: str) -> Any:
        """The field's value of a cell not seen before (remembered), or :data:`_BAD` /
        :data:`_BLANK` (not remembered: the row goes to the model, which names the problem)."""
        text = self.clean(raw)
        if not text.strip():
            return _BLANK
        try:
            value = self.checks[name](text)
        except ValueError:  # (pydantic's ValidationError is one)
            return _BAD
        if type(value) is list:
            self.copied.add(name)
        if len(cache) < CACHE_LIMIT:
            cache[raw] = value
        return value

    def _plan(self, fields: list[str]) -> tuple[Any, ...] | None:
        """The plan of a row's pattern of given cells: (the given columns, the fields set,
        the number of blank cells); None when a required field is missing."""
        shape = tuple(map(bool, fields))
        plan = self.shapes.get(shape)
        if plan is None:
            given = [(n, i, self.caches[n]) for n, i in self.columns if fields[i]]
            if not self.required <= {n for n, _, _ in given}:
                return None  # a required field is missing: the model says so
            plan = self.shapes[shape] = (given, {n for n, _, _ in given}, shape.count(False))
        return plan

    def row(self, fields: list[str]) -> M | None:
        # A file's rows mostly share one pattern of given cells: a row with as many blank
        # cells as the last row's plan and none of its given cells blank has that pattern.
        plan = self.last
        if plan is None or fields.count("") != plan[2]:
            plan = self.last = self._plan(fields)
            if plan is None:
                return None
        given, fields_set, _ = plan
        values = dict(self.defaults)
        cell = self._cell
        for name, i, cache in given:
            raw = fields[i]
            v = cache.get(raw, cache)
            if v is cache:  # (a hit is always a value: refused and blank cells are not kept)
                if not raw:  # (another pattern with as many blank cells)
                    self.last = self._plan(fields)
                    return None if self.last is None else self.row(fields)
                v = cell(name, cache, raw)
                if v is _BAD or v is _BLANK:
                    return None
            values[name] = v
        for name in self.copied:  # (a row's own list, never the cache's)
            v = values[name]
            if type(v) is list:
                values[name] = list(v)
        m = construct(self.model, values, set(fields_set))
        try:
            for rule in self.after:
                rule(m)
        except (ValueError, AssertionError):
            return None
        return m
