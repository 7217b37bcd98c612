"""The input models' cell rules that the bulk import runs once per tube (domain/schemas.py):
the same results as the plain forms they replaced."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from exolab.domain import schemas
from exolab.domain.schemas import Location, SampleIn, field_errors, parse_location


@pytest.mark.parametrize(
    "text",
    ["F1/R1/B1/a1", " F-80-1 / R2 /B07/ c5 ", "F1/R1/BAG", "F:1/R.2/B_3/Z99", "a/b/c/ d12 "],
)
def test_a_parsed_location_is_the_model_of_its_parts(text: str) -> None:
    got = parse_location(text)
    parts = [p.strip() for p in text.strip().split("/")]
    position = parts[3].upper() if len(parts) == 4 else None
    want = Location(freezer=parts[0], rack=parts[1], box=parts[2], position=position)
    assert got == want
    assert got.model_dump() == want.model_dump()
    assert got.model_fields_set == want.model_fields_set == set(Location.model_fields)
    assert list(got.__dict__) == list(want.__dict__)
    assert (str(got), got.box_path) == (str(want), want.box_path)
    got.position = "B2"  # (each parse its own: a change to one is not seen by another)
    assert parse_location(text).position == position


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("F1/R1", "'F1/R1' is not a location"),
        ("F1/R1/B1/A1/X", "is not a location"),
        ("F1/R1/B1/1A", "position '1A' must be a row letter and a column number"),
        ("F1/R1/B1/A123", "position 'A123' must be a row letter"),
    ],
)
def test_a_location_that_is_not_one(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_location(text)


def _location_by_pattern(text: str) -> Location | str:
    """A location as the pattern alone reads it (no parts remembered), or its problem."""
    m = schemas.LOCATION_RE.match(text.strip())
    if not m:
        return "not a location"
    pos = m.group("pos")
    if pos is not None:
        pos = pos.strip().upper()
        if not schemas.POSITION_RE.match(pos):
            return f"position '{pos}'"
    parts = [m.group(k).strip() for k in ("freezer", "rack", "box")]
    return Location(freezer=parts[0], rack=parts[1], box=parts[2], position=pos)


LOCATION_TEXTS = [
    "F1/R1/B1/A1",
    "F1/R1/B1/a1",
    "F1/R1/B1/ a1 ",
    "F1/R1/B1",
    " F1/R1/B1 ",
    "F1 / R1 / B1 / C5",
    "F1/R1/B1/",
    "F1/R1//A1",
    "/R1/B1/A1",
    "F1/R1/B1/A1/B2",
    "F1/R1",
    "F1",
    "",
    "F1/R1/B1/1A",
    "F1/R1/B1/A123",
    "F1/R1/B1/ ",
    "F1/R1/B1/A1\n",
    "F1/R1/B1\n/A1",
    "F-80-1/R2/B07/z99",
    "Fé/R→/B07/c5",
    "F1/R1/A1/A1",
    "A1/F1/R1/B1",
]


@pytest.mark.parametrize("rounds", [1, 3])
def test_a_location_put_together_from_remembered_parts_is_the_parsed_one(
    rounds: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """parse_location remembers the box paths and positions it parsed: a location seen
    again (or in parts: the box with another position, the position in another box) gives
    exactly what the pattern gives, and a text that is not a location is still refused."""
    monkeypatch.setattr(schemas, "_BOX_PARTS", {})
    monkeypatch.setattr(schemas, "_POSITIONS", {})
    texts = LOCATION_TEXTS * rounds
    texts += [f"{a}/{b}" for a in ("F1/R1/B1", "F1 / R1 / B1", "F1/R1") for b in ("A1", "c5", "")]
    for text in texts:
        want = _location_by_pattern(text)
        if isinstance(want, str):
            with pytest.raises(ValueError, match=want):
                parse_location(text)
            continue
        got = parse_location(text)
        assert got == want, text
        assert got.model_fields_set == set(Location.model_fields)
        assert list(got.__dict__) == list(want.__dict__)
    assert schemas._BOX_PARTS["F1 / R1 / B1"] == ("F1", "R1", "B1")
    assert schemas._POSITIONS[" a1"] == "A1"  # (the text stripped first)
    assert "F1/R1/B1/" not in schemas._BOX_PARTS  # (refused texts are not remembered)
    assert "1A" not in schemas._POSITIONS


def test_the_remembered_location_parts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schemas, "_BOX_PARTS", {})
    monkeypatch.setattr(schemas, "_POSITIONS", {})
    monkeypatch.setattr(schemas, "LOCATION_CACHE_LIMIT", 5)
    for i in range(20):
        loc = parse_location(f"F1/R1/B{i}/A{i % 10 + 1}")
        assert (loc.box, loc.position) == (f"B{i}", f"A{i % 10 + 1}")
    assert len(schemas._BOX_PARTS) == 5
    assert len(schemas._POSITIONS) == 5
    again = parse_location("F1/R1/B19/A10")  # (not remembered: parsed again)
    assert (again.box_path, again.position) == ("F1/R1/B19", "A10")


BASE = {"sample_id": "T1", "biofluid": "plasma", "collected_at": "2024-01-10 09:00"}


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"study": "S1", "subject_id": "P1", "visit": "V1"}, None),
        ({"subject_id": "P1", "visit": "V1"}, ("study", "required for a plasma sample")),
        ({"study": "S1", "visit": "V1"}, ("subject_id", "required for a plasma sample")),
        ({"study": "S1", "subject_id": "P1"}, ("visit", "required for a plasma sample")),
        ({}, ("study", "required for a plasma sample")),
        ({"parent_sample_id": "T0"}, None),
        ({"biofluid": "conditioned_medium"}, ("cell_source_id", "needs a cell_source_id")),
        ({"biofluid": "conditioned_medium", "cell_source_id": "C1"}, None),
        (
            {"study": "S1", "subject_id": "P1", "visit": "V1", "processed_at": "2024-01-09"},
            ("processed_at", "is before collected_at"),
        ),
    ],
)
def test_the_source_rules_of_a_sample(
    given: dict[str, str], problem: tuple[str, str] | None
) -> None:
    data = {**BASE, **given}
    if problem is None:
        SampleIn.model_validate(data)
        return
    with pytest.raises(ValidationError) as exc:
        SampleIn.model_validate(data)
    errors = field_errors(exc.value)
    assert len(errors) == 1 and errors[0][0] == problem[0], errors
    assert problem[1] in errors[0][1], errors


@pytest.mark.parametrize("chain", ["sec", "uf+sec", "duc", "dg+iac", "duc+sec+uf"])
def test_step_parameters_of_methods_not_in_the_chain(chain: str) -> None:
    """Each step parameter is refused when its method is not in the chain (naming the
    column and the method), accepted when it is; with several given, the first in
    STEP_PARAM_COLUMNS' order is named."""
    from exolab.domain.schemas import STEP_PARAM_COLUMNS, IsolationIn

    base = {
        "isolation_id": "I1",
        "sample_id": "T1",
        "isolated_on": "2024-01-10",
        "method": chain,
        "input_volume_ml": "0.5",
    }
    methods = IsolationIn.model_validate(base).method
    value = {"uc_g": "100000", "uc_min": "70", "uc_k_factor": "200", "uc_temp_c": "4"}
    foreign = []
    for method, cols in STEP_PARAM_COLUMNS.items():
        for col in cols.values():
            data = {**base, col: value.get(col, "7")}
            if method in methods:
                IsolationIn.model_validate(data)
                continue
            foreign.append((method, col))
            with pytest.raises(ValidationError) as exc:
                IsolationIn.model_validate(data)
            assert field_errors(exc.value) == [
                (col, f"given, but the method chain '{'+'.join(methods)}' has no {method} step")
            ]
    every = {**base, **{col: value.get(col, "7") for _, col in foreign}}
    if foreign:
        with pytest.raises(ValidationError) as exc:
            IsolationIn.model_validate(every)
        assert field_errors(exc.value)[0][0] == foreign[0][1]
