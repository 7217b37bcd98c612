"""A longitudinal row's fields are declared in three places that readers type against: the
export's column list, the driver path's TypedDict and the service path's pydantic model. A field
added to one and not the others fails here (the order is the export's)."""

from __future__ import annotations

from exolab.services.history import LONGITUDINAL_COLUMNS, LongitudinalRow
from exolab.services.queries import TrajectoryPoint


def test_the_three_declarations_of_a_longitudinal_row_agree() -> None:
    with_normalisation = [*LONGITUDINAL_COLUMNS, "normalisation"]  # set by the normaliser only
    assert list(LongitudinalRow.__annotations__) == with_normalisation
    assert list(TrajectoryPoint.model_fields) == with_normalisation
    assert len(set(LONGITUDINAL_COLUMNS)) == len(LONGITUDINAL_COLUMNS)
