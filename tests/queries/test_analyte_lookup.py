"""Analyte names resolve the same way for every reader and writer (docs/import-formats.md,
"Analytes"): after an admin adds a synonym, recording a readout with it, `exolab patient
--analyte`, `exolab cohort` and the UI's readout filter all find the analyte, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exolab.db.engine import Database
from exolab.services.context import Lab
from exolab.services.errors import NotFound
from exolab.services.lists import ListQuery, list_page
from exolab.services.readouts import record_readout, update_analyte
from tests.queries.cli import import_files, run

SUBJECTS = "study,subject_id\nLK,L1\n"
SAMPLES = """sample_id,biofluid,collected_at,study,subject_id,visit
L1-BL,plasma,2024-01-10 09:00,LK,L1,baseline
L1-M3,plasma,2024-04-10 09:00,LK,L1,M3
"""
READOUTS = """sample_id,analyte,value,unit,assay,run_id
L1-BL,GPC1,100,pg/mL,elisa,R1
L1-BL,EphA2-EV,5,ng/mL,elisa,R1
L1-BL,ALIX,1.5,ng/mL,elisa,R1
"""


@pytest.fixture
def lookup_db(db_url: str, tmp_path: Path) -> str:
    import_files(
        db_url, tmp_path, (("subjects", SUBJECTS), ("samples", SAMPLES), ("readouts", READOUTS))
    )
    return db_url


def _readout_filter(lab: Lab, name: str) -> int:
    """Rows of the UI's readout list filtered by analyte ``name`` (its service query)."""
    with lab.read() as tx:
        return len(list_page(tx, "readouts", ListQuery(analyte=name)).rows)


def test_admin_synonym_is_found_by_every_reader_and_writer(lookup_db: str) -> None:
    db = Database(lookup_db)
    lab = Lab(db, "tester")
    try:
        with lab.write() as tx:
            update_analyte(tx, "GPC1", synonyms=["Glypican EV assay"], reason="lab name")
        # the writer: a readout recorded with the synonym lands on GPC1, no new analyte
        with lab.write() as tx:
            out = record_readout(
                tx,
                {
                    "sample_id": "L1-M3",
                    "analyte": "glypican ev assay",
                    "value": "300",
                    "unit": "pg/mL",
                    "assay": "elisa",
                    "run_id": "R2",
                },
            )
        assert out.analyte == "GPC1"
        # the UI's readout filter: by synonym (any case) and code (any case)
        for name in ("GLYPICAN EV ASSAY", "gpc1", "GPC1"):
            assert _readout_filter(lab, name) == 2, name
        # a code first recorded by an import, looked up ignoring case
        assert _readout_filter(lab, "epha2-ev") == 1
        assert _readout_filter(lab, "no-such-analyte") == 0
        # a built-in synonym (ALIX is PDCD6IP), as imported and as filtered
        assert _readout_filter(lab, "alix") == _readout_filter(lab, "PDCD6IP") == 1
        # and an unknown name is not created by a reader
        with lab.read() as tx, pytest.raises(NotFound):
            from exolab.services.queries import cohort_summary

            cohort_summary(tx, "no-such-analyte")
    finally:
        db.dispose()
    # the driver-only readers: patient and cohort
    r = run(lookup_db, "patient", "LK", "L1", "--analyte", "Glypican EV Assay", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(row["analyte"], row["value"]) for row in rows] == [("GPC1", "100"), ("GPC1", "300")]
    assert rows[1]["change_from_baseline"] == 200.0
    r = run(lookup_db, "cohort", "glypican ev assay", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert sum(row["n"] for row in json.loads(r.stdout)) == 2
    r = run(lookup_db, "cohort", "EPHA2-EV", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert sum(row["n"] for row in json.loads(r.stdout)) == 1
    r = run(lookup_db, "cohort", "no-such-analyte")
    assert r.returncode == 1 and "no analyte no-such-analyte" in r.stderr


def test_resolution_rule() -> None:
    from exolab.domain.markers import resolve_analyte

    analytes = [
        (1, "GPC1", []),
        (2, "EphA2-EV", '["epha2 marker"]'),  # synonyms as SQLite's driver returns them
        (3, "PDCD6IP", None),
        (4, "ephA2-ev", []),  # a second code equal ignoring case: the first added wins
    ]
    assert resolve_analyte("GPC1", analytes) == 1
    assert resolve_analyte("ALIX", analytes) == 3  # built-in synonym
    assert resolve_analyte("programmed cell death 6-interacting protein (ALIX)", analytes) == 3
    assert resolve_analyte("ephA2-ev", analytes) == 4  # exact code first
    assert resolve_analyte("EPHA2-EV", analytes) == 2
    assert resolve_analyte(" EphA2 Marker ", analytes) == 2
    assert resolve_analyte("CD63", analytes) is None
