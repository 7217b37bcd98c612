"""A longitudinal row's fields are declared in three places that readers type against: the
export's column list, the driver path's TypedDict and the service path's pydantic model. A field
added to one and not the others fails here (the order is the export's).

The stream asked ``with_ids`` gives each row its readout's internal number (``readout_pk``, the
OMOP export's measurement_id), on both of its paths; asked without, no row carries it (it is no
column of an export, nor a field of ``exolab patient``)."""

from __future__ import annotations

import pytest

from exolab.db import raw
from exolab.services import history
from exolab.services.history import LONGITUDINAL_COLUMNS, LongitudinalRow
from exolab.services.queries import TrajectoryPoint
from tests.queries.test_cli_queries import clinical  # noqa: F401  (fixture)


def test_the_three_declarations_of_a_longitudinal_row_agree() -> None:
    with_normalisation = [*LONGITUDINAL_COLUMNS, "normalisation"]  # set by the normaliser only
    # readout_pk: set only when the stream is asked for it (with_ids)
    assert list(LongitudinalRow.__annotations__) == [*with_normalisation, "readout_pk"]
    assert list(TrajectoryPoint.model_fields) == with_normalisation
    assert len(set(LONGITUDINAL_COLUMNS)) == len(LONGITUDINAL_COLUMNS)


@pytest.mark.parametrize("subjects", [None, ["C01", "C02", "C03"]], ids=["stream", "subjects"])
def test_rows_carry_their_readout_ids_only_when_asked(
    clinical: str,  # noqa: F811
    subjects: list[str] | None,
) -> None:
    reader = raw.connect(clinical)
    assert reader is not None
    try:
        stored = {
            (sample, iso, analyte, assay, run or "", replicate): pk
            for pk, sample, iso, analyte, assay, run, replicate in reader.all(
                "SELECT readouts.id, samples.sample_code, isolations.isolation_code, "
                "analytes.code, readouts.assay, readouts.run_code, readouts.replicate "
                "FROM readouts JOIN samples ON samples.id = readouts.sample_id "
                "JOIN analytes ON analytes.id = readouts.analyte_id "
                "LEFT OUTER JOIN isolations ON isolations.id = readouts.isolation_id",
                {},
            )
        }
        rows = list(history.longitudinal(reader, study="CLIN", subjects=subjects, with_ids=True))
        plain = list(history.longitudinal(reader, study="CLIN", subjects=subjects))
    finally:
        reader.close()
    assert len(rows) == len(stored) == len(plain)
    got = {
        (
            r["sample_id"],
            r["isolation_id"],
            r["analyte"],
            r["assay"],
            r["run_id"] or "",
            r["replicate"],
        ): r["readout_pk"]
        for r in rows
    }
    assert got == stored
    # the same rows otherwise, and without the flag no row has the key
    assert [{k: v for k, v in r.items() if k != "readout_pk"} for r in rows] == plain
    assert all("readout_pk" not in r for r in plain)
