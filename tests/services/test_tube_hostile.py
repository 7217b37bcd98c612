"""A hostile technician's inputs to the single-record life-cycle services, on SQLite and
PostgreSQL: what the freezer record may not take (docs/lifecycle.md, docs/reliability.md)."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import func, select

from exolab.db.models import Freezer
from exolab.services import storage
from exolab.services.context import Lab
from exolab.services.errors import ValidationFailed


@pytest.mark.parametrize("temperature", [math.nan, math.inf, -math.inf, -500.0, 150.0])
def test_freezer_temperature_must_be_a_plausible_finite_number(
    lab: Lab, temperature: float
) -> None:
    with lab.write() as tx, pytest.raises(ValidationFailed, match="temperature_c"):
        storage.add_location(tx, "F-X", temperature_c=temperature)
    with lab.read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(Freezer)) == 0


def test_freezer_at_liquid_nitrogen_temperature_is_accepted(lab: Lab) -> None:
    with lab.write() as tx:
        assert storage.add_location(tx, "LN2-1", temperature_c=-196) == ["freezer LN2-1"]


@pytest.mark.parametrize(
    ("path", "name", "field"),
    [("F\x01X/R1/B1", None, "location"), ("F/R\x7f1", None, "location"), ("F-1", "a\x00b", "name")],
)
def test_storage_codes_and_names_refuse_control_characters(
    lab: Lab, path: str, name: str | None, field: str
) -> None:
    with lab.write() as tx, pytest.raises(ValidationFailed, match=f"{field}: .*control character"):
        storage.add_location(tx, path, freezer_name=name)
    with lab.read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(Freezer)) == 0
