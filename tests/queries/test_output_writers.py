"""The JSON and CSV writers of the query commands: column-by-column encoding gives exactly
what encoding each row on its own gives, for the values where sharing one encoding between
equal values would go wrong (``-0.0 == 0.0``, ``1 == 1.0 == True``, NaN, dates and
datetimes)."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime
from decimal import Decimal

import pytest

from exolab.commands.output import write_csv, write_json

TRICKY = [
    {"a": 0.0, "b": 1, "c": "x", "d": None, "e": date(2024, 1, 11), "f%": True},
    {"a": -0.0, "b": 1.0, "c": 'ü, "q"', "d": 2.5, "e": datetime(2024, 1, 11, 9, 0), "f%": 1},
    {"a": float("nan"), "b": True, "c": "x", "d": None, "e": date(2024, 1, 11), "f%": False},
    {"a": float("inf"), "b": 0, "c": "", "d": -0.0, "e": None, "f%": 0},
    {"a": 1e308, "b": False, "c": "%s", "d": Decimal("1.10"), "e": "2024", "f%": [1, 2]},
]


def _one_per_line(rows: list[dict[str, object]]) -> str:
    def default(v: object) -> object:
        return v.isoformat() if isinstance(v, date | datetime) else str(v)

    def finite(v: object) -> object:  # JSON has no NaN or Infinity (RFC 8259): null
        return None if isinstance(v, float) and not math.isfinite(v) else v

    lines = [
        json.dumps({k: finite(v) for k, v in r.items()}, default=default, ensure_ascii=False)
        for r in rows
    ]
    return "[\n" + ",\n".join("  " + line for line in lines) + "\n]\n"


@pytest.mark.parametrize("rows", [TRICKY, TRICKY * 700, [dict(TRICKY[1])] * 3])
def test_json_rows_are_each_row_encoded_alone(rows: list[dict[str, object]]) -> None:
    out = io.StringIO()
    write_json(rows, out)
    assert out.getvalue() == _one_per_line(rows)


def test_json_values_read_back_exactly() -> None:
    out = io.StringIO()
    write_json(TRICKY * 3, out)
    back = json.loads(out.getvalue(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert math.copysign(1, back[1]["a"]) == -1  # -0.0 kept its sign
    assert back[0]["b"] == 1 and isinstance(back[0]["b"], int)
    assert isinstance(back[1]["b"], float) and back[2]["b"] is True
    assert back[2]["a"] is None and back[3]["a"] is None  # NaN, inf: JSON has neither
    assert back[1]["e"] == "2024-01-11T09:00:00" and back[0]["e"] == "2024-01-11"


def test_json_rows_with_different_keys_keep_every_key() -> None:
    rows = [{"a": 1}, {"a": 2, "b": "x"}, {"b": -0.0}]
    out = io.StringIO()
    write_json(rows, out)
    assert json.loads(out.getvalue()) == rows
    assert out.getvalue() == _one_per_line(rows)


def test_json_empty_list_and_object() -> None:
    out = io.StringIO()
    write_json([], out)
    write_json({"k": [1, 2]}, out)
    assert out.getvalue() == '[]\n{\n  "k": [\n    1,\n    2\n  ]\n}\n'


def test_csv_cells_are_each_value_formatted_alone() -> None:
    rows = TRICKY * 900  # several chunks of rows
    out = io.StringIO()
    write_csv(rows, ["a", "b", "c", "d", "e", "f%"], out)
    got = list(csv.reader(io.StringIO(out.getvalue())))
    assert got[0] == ["a", "b", "c", "d", "e", "f%"]
    assert len(got) == len(rows) + 1
    assert got[1] == ["0.0", "1", "x", "", "2024-01-11", "yes"]
    assert got[2] == ["-0.0", "1.0", 'ü, "q"', "2.5", "2024-01-11T09:00:00", "1"]
    assert got[3] == ["nan", "yes", "x", "", "2024-01-11", "no"]
    assert got[4] == ["inf", "0", "", "-0.0", "", "0"]
    assert got[5][:5] == ["1e+308", "no", "%s", "1.10", "2024"]
    assert got[6:11] == got[1:6]  # the second copy formats the same
    assert out.getvalue().endswith("\r\n")
