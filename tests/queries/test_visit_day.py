"""Visit day has one definition (docs/longitudinal.md, "Visit day"; exolab.domain.visits):
the longitudinal stream, the subject view and the cohort's visit order agree, also after a
collection time was corrected (the visit's recorded date is then stale), on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import statistics
from datetime import date
from pathlib import Path

import pytest

from exolab.db.engine import Database
from exolab.domain.visits import visit_day
from exolab.services.context import Lab
from exolab.services.queries import cohort_summary
from exolab.services.subject_view import subject_visits
from tests.queries.cli import import_files, run

SUBJECTS = "study,subject_id\nVD,A\nVD,B\n"
# A: a screening serum two days before the baseline plasma, two samples at M3;
# B: no screening visit.
SAMPLES = """sample_id,biofluid,collected_at,study,subject_id,visit
A-SCR,serum,2024-01-08 16:00,VD,A,screening
A-BL,plasma,2024-01-10 08:00,VD,A,baseline
A-M3a,plasma,2024-04-12 09:00,VD,A,M3
A-M3b,plasma,2024-04-10 23:30,VD,A,M3
B-BL,plasma,2024-02-01 10:00,VD,B,baseline
B-M3,plasma,2024-05-03 10:00,VD,B,M3
"""
READOUTS = """sample_id,analyte,value,unit,assay,run_id
A-SCR,GPC1,90,pg/mL,elisa,R0
A-BL,GPC1,100,pg/mL,elisa,R1
A-M3a,GPC1,300,pg/mL,elisa,R2
A-M3b,GPC1,310,pg/mL,elisa,R2
B-BL,GPC1,50,pg/mL,elisa,R1
B-M3,GPC1,70,pg/mL,elisa,R2
"""
# the baseline plasma's collection time corrected to two days later
CORRECTION = """sample_id,biofluid,collected_at,study,subject_id,visit
A-BL,plasma,2024-01-12 08:00,VD,A,baseline
"""


@pytest.fixture
def visits_db(db_url: str, tmp_path: Path) -> str:
    import_files(
        db_url, tmp_path, (("subjects", SUBJECTS), ("samples", SAMPLES), ("readouts", READOUTS))
    )
    f = tmp_path / "correction.csv"
    f.write_text(CORRECTION)
    r = run(db_url, "import", "samples", str(f), "--on-duplicate", "update")
    assert r.returncode == 0, r.stderr
    return db_url


# by the definition: days from the subject's first collection (A: 2024-01-08)
EXPECTED = {
    ("A", "screening"): 0,
    ("A", "baseline"): 4,  # corrected to 2024-01-12
    ("A", "M3"): 93,  # the earliest M3 collection, 2024-04-10 (23:30: the date counts)
    ("B", "baseline"): 0,
    ("B", "M3"): 92,
}


def test_definition() -> None:
    assert visit_day("2024-04-10 23:30:00", "2024-01-08T16:00:00") == 93
    assert visit_day(date(2024, 1, 8), date(2024, 1, 8)) == 0


def test_stream_subject_view_and_cohort_agree(visits_db: str) -> None:
    # the longitudinal stream (`exolab patient`, on the driver)
    stream: dict[tuple[str, str], set[int]] = {}
    for subject in ("A", "B"):
        r = run(visits_db, "patient", "VD", subject, "--format", "json")
        assert r.returncode == 0, r.stderr
        for row in json.loads(r.stdout):
            stream.setdefault((subject, row["visit"]), set()).add(row["visit_day"])
    # A's M3 rows: each collection's own day; the visit's day is its earliest
    assert stream.pop(("A", "M3")) == {93, 95}
    assert {k: min(v) for k, v in stream.items()} == {
        k: v for k, v in EXPECTED.items() if k != ("A", "M3")
    }
    db = Database(visits_db)
    try:
        with Lab(db, "tester").read() as tx:
            view = {
                (subject, v.label): v.visit_day
                for subject in ("A", "B")
                for v in subject_visits(tx, "VD", subject)
            }
            rows = cohort_summary(tx, "GPC1", study="VD", by="visit")
    finally:
        db.dispose()
    assert view == EXPECTED
    mean_day = {r.value: r.mean_visit_day for r in rows}
    for label in ("screening", "baseline", "M3"):
        days = [d for (_s, v), d in EXPECTED.items() if v == label]
        assert mean_day[label] == pytest.approx(statistics.fmean(days)), label
    assert [r.value for r in rows] == ["screening", "baseline", "M3"]
