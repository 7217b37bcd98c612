"""Which stored isolations and samples a readouts import reads (services/readout_write.py,
docs/bulk-imports.md): in a database of many tubes, only those its file names -- a plate of
96 readouts into a biobank of 1,000,000 tubes read every code (~0.6 s, ~200 MB) before its
first row. Every case below runs as if the database were large (the limit set to 0), and
imports exactly what the whole-table read imports."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from exolab.io import bulk
from exolab.io.export import run_export
from exolab.io.importer import ImportFailed
from exolab.services import pg_load, readout_write
from exolab.services.context import Lab
from exolab.services.readout_write import ReadoutStore
from tests.io.helpers import READOUTS, base_cohort, counts, load, write
from tests.test_cli import run

HEADER = READOUTS.splitlines(keepends=True)[0]
# isolation rows, sample rows, codes with spaces around them, in chunks of two
ROWS = (
    "ISO-1,,CD63,12.5,pg/mL,elisa,R1,2024-03-05,1,0.5,pass\n"
    " ISO-2 ,,CD63,20,pg/mL,elisa,R1,2024-03-05,1,0.5,pass\n"
    ",P002-V1,CD9,detected,,western_blot,,2024-03-06,1,,\n"
    ",  P001-V1,CD81,3.5,pg/mL,elisa,R1,2024-03-05,1,0.5,pass\n"
    "ISO-1,,CD81,<0.5,pg/mL,elisa,R1,2024-03-05,2,0.5,pass\n"
)


@pytest.fixture
def stores(monkeypatch: pytest.MonkeyPatch) -> list[ReadoutStore]:
    """The stores the imports used, to see what they held."""
    made: list[ReadoutStore] = []
    original = ReadoutStore.__init__

    def keep(self: ReadoutStore, *args: Any, **kw: Any) -> None:
        original(self, *args, **kw)
        made.append(self)

    monkeypatch.setattr(ReadoutStore, "__init__", keep)
    return made


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch, stores: list[ReadoutStore]) -> list[ReadoutStore]:
    """Every database counts as large; chunks of two (the writer runs while rows are
    checked). The stores the imports used."""
    monkeypatch.setattr(readout_write, "LOAD_ALL_TARGETS", 0)
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 2)
    monkeypatch.setattr(pg_load, "CHUNK_ROWS", 2)
    return stores


def readouts(lab: Lab) -> list[tuple[str, ...]]:
    buf = io.StringIO()
    run_export(lab, "readouts", None, stdout=buf)
    return sorted(
        (r["isolation_id"], r["sample_id"], r["analyte"], r["value"], r["replicate"])
        for r in csv.DictReader(io.StringIO(buf.getvalue()))
    )


EXPECTED = [
    ("", "P001-V1", "CD81", "3.5", "1"),
    ("", "P002-V1", "CD9", "detected", "1"),
    ("ISO-1", "", "CD63", "12.5", "1"),
    ("ISO-1", "", "CD81", "<0.5", "2"),
    ("ISO-2", "", "CD63", "20", "1"),
]


def test_reads_only_the_named_tubes(lab: Lab, tmp_path: Path, large: list[ReadoutStore]) -> None:
    base_cohort(lab, tmp_path)  # P001-V1, P001-V2, P002-V1; ISO-1..3
    report = load(lab, tmp_path, "readouts", HEADER + ROWS)
    assert report.created == 5
    assert readouts(lab) == EXPECTED
    (store,) = large
    assert set(store.isolations) == {"ISO-1", "ISO-2"}  # not ISO-3
    assert set(store.samples) == {"P001-V1", "P002-V1"}  # not P001-V2
    # a re-import compares with what is stored: nothing new
    again = load(lab, tmp_path, "readouts", HEADER + ROWS)
    assert (again.created, again.unchanged) == (0, 5)
    assert counts(lab)[2] == 5


def test_unknown_codes_are_named(lab: Lab, db_url: str, tmp_path: Path, large: Any) -> None:
    base_cohort(lab, tmp_path)
    text = HEADER + ROWS + "ISO-9,,CD63,1,pg/mL,elisa,R1,2024-03-05,1,0.5,pass\n"
    text += ",P009-V1,CD63,1,pg/mL,elisa,R1,2024-03-05,1,0.5,pass\n"
    path = write(tmp_path, "unknown.csv", text)
    r = run("--db", db_url, "import", "readouts", str(path))
    assert r.returncode == 1, r.stderr
    assert "unknown.csv:7:isolation_id: no isolation ISO-9" in r.stderr
    assert "unknown.csv:8:sample_id: no sample P009-V1" in r.stderr
    assert "Traceback" not in r.stderr
    assert counts(lab)[2] == 0


def test_a_duplicate_row_names_the_first(lab: Lab, tmp_path: Path, large: Any) -> None:
    base_cohort(lab, tmp_path)
    text = HEADER + ROWS + "ISO-2,,CD63,21,pg/mL,elisa,R1,2024-03-05,1,0.5,pass\n"
    with pytest.raises(ImportFailed) as failed:
        load(lab, tmp_path, "readouts", text)
    assert failed.value.report.problems is not None
    (line,) = failed.value.report.problems.lines()
    assert line.startswith("readouts.csv:7:replicate:") and "row 3" in line


def test_codes_the_first_pass_missed_are_looked_up(
    lab: Lab, tmp_path: Path, large: list[ReadoutStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A code the first pass did not see (the file changed between the two reads) is looked
    up on its own when its row is checked, after the writer has written what it holds."""
    base_cohort(lab, tmp_path)
    monkeypatch.setattr(bulk.ReadoutLoader, "named_targets", lambda self: (set(), set()))
    report = load(lab, tmp_path, "readouts", HEADER + ROWS)
    assert report.created == 5
    assert readouts(lab) == EXPECTED
    assert set(large[0].samples) == {"P001-V1", "P002-V1"}


def test_small_databases_read_every_code(
    lab: Lab, tmp_path: Path, stores: list[ReadoutStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the limit the import reads every code at once (one query each, no first pass)."""
    base_cohort(lab, tmp_path)
    monkeypatch.setattr(
        bulk.ReadoutLoader,
        "named_targets",
        lambda self: pytest.fail("a small database needs no first pass"),
    )
    load(lab, tmp_path, "readouts", HEADER + ROWS)
    assert set(stores[0].isolations) == {"ISO-1", "ISO-2", "ISO-3"}
    assert readouts(lab) == EXPECTED
