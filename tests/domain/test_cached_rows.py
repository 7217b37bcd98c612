"""The bulk import's cell-by-cell validation (domain/cached_rows.py) gives exactly what the
input model gives: the same values and the same fields set for a row it accepts, and it
accepts no row the model refuses (those rows are validated by the model, which names the
problems: docs/bulk-imports.md, "Validation")."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from pydantic import BaseModel

from exolab.domain.cached_rows import CachedRows, usable
from exolab.domain.schemas import CellSourceIn, IsolationIn, SampleIn, SubjectIn
from exolab.io.cells import import_cell
from exolab.services.common import validate
from exolab.services.errors import ValidationFailed

SAMPLES = """sample_id,biofluid,collected_at,study,subject_id,visit,tube,volume_ml,processed_at,spin1_g,spin1_min,spin1_brake,storage_temp_c,sprec,parent_sample_id,cell_source_id,location,freeze_thaw_count,status,notes,pre_centrifugation_temp,a414
T1,plasma,2024-01-10 09:00,S1,P1,V1,K2EDTA,4.0,,2500,15,,-80,,,,F1/R1/B1/A1,,,,,
T2, Plasma ,2024-01-10T09:00:00Z,S1,P1,V1,k2edta, 4 ,2024-01-10 10:00,2500.0,15,on,,,,,f1/r1/b1/c5,0,available,"a ""note"" x",RT,0.2
T3,serum,2024-01-10,S1,P1,V1,sst,1e1,,,,,,,,,F1/R1/BAG,2,checked_out,'=1+1,,
T4,plasma,2024-01-10 09:00,,,,,1,,,,,,,T1,,,,,,,
T5,conditioned_medium,2024-01-10 09:00,,,,,1,,,,,,,,MSC-1,,,,,,
T6,plasma,2024-01-10 09:00,S1,P1,V1,,inf,,,,,,,,,,,,,,
T7,plasma,2024-01-10 09:00,S1,,V1,,1,,,,,,,,,,,,,,
T8,plasma,2024-01-10 09:00,S1,P1,V1,,1,2024-01-09 09:00,,,,,,,,,,,,,
T9,plasma,20240110,S1,P1,V1,,1,,,,,,,,,,,,,,
T10,plasma,2024-01-10 09:00,S1,P1,V1,,1,,0,,,,,,,,,,,,
T11,blood?,2024-01-10 09:00,S1,P1,V1,,1,,,,,,,,,,,,,,
T 12,plasma,2024-01-10 09:00,S1,P1,V1,,1,,,,,,,,,,,,,,
T13,plasma,2024-01-10 09:00,S1,P1,V1,,1,,,,,,,,,F1/R1/B1/Z99,,,,,
T14,plasma,2024-01-10 09:00,S1,P1,V1,,1_000,,,,,,,,,,,,,,
T15,plasma,2999-01-10 09:00,S1,P1,V1,,1,,,,,,,,,,,,,,
T16,conditioned_medium,2024-01-10 09:00,,,,,1,,,,,,,,,,,,,,
,plasma,2024-01-10 09:00,S1,P1,V1,,1,,,,,,,,,,,,,,
T18,plasma,   ,S1,P1,V1,,1,,,,,,,,,,,,,,
T19,plasma,2024-01-10 09:00,S1,P1,V1,,1,,,,,,,,,,,,a\x01b,,
T20,plasma,2024-01-10 09:00,S1,P1,V1,,1,,,,,,x,,,,,,,nonsense,
T21,plasma,2024-01-10 09:00,S1,P1,V1,,1,,,,,,,,,,,,, 4C ,11
T22,plasma,2024-01-10 09:00,S1,P1,V1,,1,,,,off,-196.0,,,,,,,  ,,
"""
ISOLATIONS = """isolation_id,sample_id,isolated_on,method,input_volume_ml,uc_g,uc_min,sec_column,sec_fractions,uf_mwco_kda,final_volume_ul,notes
ISO-1,T1,2024-01-20,uf+sec,0.5,,,qEV original 70 nm,7-9,100,200,
ISO-2,T1,2024-01-20,dUC,0.5,100000,70,,,,,
ISO-3,T1,2024-01-20,sec,0.5,100000,,,,,,
ISO-4,T1,2024-01-20,nonsense,0.5,,,,,,,
ISO-5,T1,2024-01-20 09:00,sec,0.5,,,,,,,
ISO-6,T1,2024-01-20,sec,0,,,,,,,
ISO-7,T1,2024-01-20,sec,0.5,,,,,,-1,
ISO-8,T1,2024-01-20,SEC + UF,.5,,,qEV,,10,,'@x
"""
SUBJECTS = """study,subject_id,sex,birth_year,group,enrolled_on,consent,notes
S1,P1,F,1970,case,2024-01-02,yes,
S1,P2,female,,,,,
S1,P3,Q,1970,,,,
S1,P4,,1700,,,,
S1,P5,,1970.0,,,,
S1,P6,,,,2024-02-30,,
S1,P7,m,  1980 ,control,,no,"tab\there"
"""
CELLS = """cell_source_id,cell_type,species,passage,confluency_pct,mycoplasma_result,mycoplasma_tested_on
MSC-1,mesenchymal stromal cells,Homo sapiens,4,80,negative,2024-01-02
C-2,fibroblasts,,-1,,,
C-3,fibroblasts,,,150,,
C-4,,,,,,
C-5,fibroblasts,,,,maybe,
"""

BLANK_ONCE_CLEANED = {"T22"}  # a row with a cell of spaces only
CASES = [
    (SampleIn, SAMPLES),
    (IsolationIn, ISOLATIONS),
    (SubjectIn, SUBJECTS),
    (CellSourceIn, CELLS),
]


def _rows(text: str) -> tuple[list[str], list[list[str]]]:
    reader = csv.reader(io.StringIO(text.replace("\\x01", "\x01")))
    header = next(reader)
    return header, list(reader)


def _model(model: type[BaseModel], header: list[str], fields: list[str]) -> Any:
    data = {c: (import_cell(v) if v else "") for c, v in zip(header, fields, strict=True)}
    try:
        return validate(model, data)
    except ValidationFailed as exc:
        return exc


@pytest.mark.parametrize(("model", "text"), CASES, ids=[m.__name__ for m, _ in CASES])
def test_cell_by_cell_gives_what_the_model_gives(model: type[BaseModel], text: str) -> None:
    header, rows = _rows(text)
    assert usable(model, header)
    cached = CachedRows(model, [(c, i) for i, c in enumerate(header)], import_cell)
    taken = refused = 0
    for _ in range(2):  # the second pass answers from the caches
        for fields in rows:
            expected = _model(model, header, fields)
            got = cached.row(fields)
            if isinstance(expected, ValidationFailed):
                assert got is None, (fields, expected)  # the model names the problems
                refused += 1
                continue
            assert got is not None or fields[0] in BLANK_ONCE_CLEANED, fields
            if got is None:  # (a cell blank once cleaned: the model is asked)
                continue
            taken += 1
            assert got == expected, fields
            assert got.model_dump() == expected.model_dump(), fields
            assert got.model_fields_set == expected.model_fields_set, fields
            assert list(got.__dict__) == list(expected.__dict__)
    assert taken >= 2 and refused >= 6


def test_rows_do_not_share_a_list() -> None:
    header, rows = _rows(ISOLATIONS)
    cached = CachedRows(IsolationIn, [(c, i) for i, c in enumerate(header)], import_cell)
    a, b = cached.row(rows[0]), cached.row(rows[0])
    assert a is not None and b is not None and a.method == b.method == ["uf", "sec"]
    a.method.append("dg")
    assert b.method == ["uf", "sec"]


def test_a_model_with_its_own_field_rules_is_not_taken_cell_by_cell() -> None:
    from pydantic import field_validator

    class Odd(SubjectIn):
        @field_validator("subject_id")
        @classmethod
        def _upper(cls, v: str) -> str:
            return v.upper()

    assert usable(SubjectIn, ["study", "subject_id"])
    assert not usable(Odd, ["study", "subject_id"])
    assert not usable(SubjectIn, ["study", "subject_id", "unknown"])


def test_a_refused_or_blank_cell_is_refused_on_every_row() -> None:
    """Refused and blank-once-cleaned cells are not remembered (only values are): the same
    cell on a later row is refused again, and its row goes to the model each time."""
    header, rows = _rows(SAMPLES)
    cached = CachedRows(SampleIn, [(c, i) for i, c in enumerate(header)], import_cell)
    bad = next(r for r in rows if r[0] == "T9")  # collected_at 20240110
    blank = next(r for r in rows if r[0] == "T22")  # notes of spaces only
    good = next(r for r in rows if r[0] == "T1")
    for _ in range(3):
        assert cached.row(bad) is None
        assert cached.row(blank) is None
        assert cached.row(good) is not None
    assert all(v is not None for cache in cached.caches.values() for v in cache.values())
    assert "20240110" not in cached.caches["collected_at"]


@pytest.mark.parametrize("field", ["sample_id", "visit", "parent_sample_id"])
def test_an_identifier_too_long_or_not_an_identifier(field: str) -> None:
    """Codes: the identifier rule first, then 1..64 characters once stripped, with the same
    messages as before the lengths moved inside the rule (field_errors)."""
    from exolab.domain.schemas import field_errors

    base = {
        "sample_id": "T1",
        "biofluid": "plasma",
        "collected_at": "2024-01-10",
        "study": "S1",
        "subject_id": "P1",
        "visit": "V1",
    }
    for value, message in [
        ("x" * 65, "String should have at most 64 characters"),
        (" " + "x" * 64 + " ", None),
        ("a b", "'a b' is not a valid identifier"),
    ]:
        data = {**base, field: value}
        try:
            m = SampleIn.model_validate(data)
        except Exception as exc:  # (pydantic's ValidationError)
            assert message is not None, (value, exc)
            errors = field_errors(exc)  # type: ignore[arg-type]
            assert [f for f, _ in errors] == [field]
            assert errors[0][1].startswith(message), errors
        else:
            assert message is None, value
            assert getattr(m, field) == "x" * 64


@pytest.mark.parametrize(("model", "text"), CASES, ids=[m.__name__ for m, _ in CASES])
def test_each_field_is_checked_by_the_models_own_compiled_schema(
    model: type[BaseModel], text: str
) -> None:
    """Every field of the input models gets its validator from the model's own compiled
    schema and config; each gives what an adapter built from the field's annotation gives
    (value, or a refusal) for every cell of the sample file."""
    from typing import Annotated

    from pydantic import ConfigDict, TypeAdapter, ValidationError

    from exolab.domain.cached_rows import _compiled_fields

    compiled = _compiled_fields(model)
    assert compiled.keys() == model.model_fields.keys()
    header, rows = _rows(text)
    config = ConfigDict(str_strip_whitespace=True)
    for i, name in enumerate(header):
        fi = model.model_fields[name]
        kind: Any = Annotated[(fi.annotation, *fi.metadata)] if fi.metadata else fi.annotation
        adapter = TypeAdapter(kind, config=config)
        for fields in rows:
            cell = import_cell(fields[i])
            if not cell:
                continue
            try:
                want: Any = adapter.validate_python(cell)
            except ValidationError as exc:
                want = [e["type"] for e in exc.errors()]
            try:
                got: Any = compiled[name](cell)
            except ValidationError as exc:
                got = [e["type"] for e in exc.errors()]
            assert got == want and type(got) is type(want), (name, cell)


def test_rows_with_as_many_blank_cells_in_other_columns() -> None:
    """A row with as many blank cells as the row before, in other columns, is read by its
    own pattern: the same values and fields set as the model, alternating patterns."""
    header = ["sample_id", "biofluid", "collected_at", "study", "subject_id", "visit"]
    header += ["notes", "tube", "volume_ml"]
    rows = [
        ["A1", "plasma", "2024-01-10", "S1", "P1", "V1", "a note", "", ""],
        ["A2", "plasma", "2024-01-10", "S1", "P1", "V1", "", "k2edta", ""],
        ["A3", "plasma", "2024-01-10", "S1", "P1", "V1", "", "", "2.5"],
        ["A4", "plasma", "2024-01-10", "S1", "P1", "V1", "a note", "", ""],
        ["A5", "plasma", "2024-01-10", "S1", "", "V1", "x", "k2edta", ""],  # P missing
        ["A6", "plasma", "2024-01-10", "S1", "P1", "V1", "", "nonsense", ""],
        ["A7", "plasma", "2024-01-10", "S1", "P1", "V1", "", "", "-1"],
        ["A8", "plasma", "2024-01-10", "S1", "P1", "V1", "", "", "2.5"],
    ]
    cached = CachedRows(SampleIn, [(c, i) for i, c in enumerate(header)], import_cell)
    for _ in range(2):
        for fields in rows:
            expected = _model(SampleIn, header, fields)
            got = cached.row(fields)
            if isinstance(expected, ValidationFailed):
                assert got is None, fields
                continue
            assert got is not None, fields
            assert got.model_dump() == expected.model_dump(), fields
            assert got.model_fields_set == expected.model_fields_set, fields


def test_a_constructed_model_is_a_model_like_any_other() -> None:
    """construct() sets BaseModel's four slots as model_construct does: the model compares,
    copies, dumps and takes assignments like one pydantic built."""
    from exolab.domain.cached_rows import construct

    header, rows = _rows(SUBJECTS)
    data = {c: import_cell(v) for c, v in zip(header, rows[0], strict=True) if v}
    want = SubjectIn.model_validate(data)
    got = construct(SubjectIn, dict(want.__dict__), set(want.model_fields_set))
    assert got == want and repr(got) == repr(want)
    assert got.model_dump() == want.model_dump()
    assert got.__pydantic_extra__ is None and got.__pydantic_private__ is None
    copy = got.model_copy(update={"group": "control"})
    assert copy.group == "control" and got.group == want.group
    got.notes = "later"
    assert "notes" in got.model_fields_set and "notes" not in want.model_fields_set
