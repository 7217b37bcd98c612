"""Imports at scale and their unhappy paths (docs/bulk-imports.md, docs/reliability.md):
problems late in a file of many chunks, cut files, --errors, --dry-run, --on-duplicate, an
interrupted writer. Chunk sizes are made tiny so that a few dozen rows span many chunks."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from exolab.io import bulk, bulk_records
from exolab.services import pg_load
from exolab.services.context import Lab
from tests.io.helpers import base_cohort, counts, write
from tests.test_cli import run

SAMPLE_HEADER = "sample_id,biofluid,collected_at,study,subject_id,visit\n"
READOUT_HEADER = "isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate\n"


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 3)
    monkeypatch.setattr(bulk, "FIRST_CHUNK_ROWS", 2)
    monkeypatch.setattr(pg_load, "CHUNK_ROWS", 3)
    monkeypatch.setattr(bulk_records, "CHUNK_ROWS", 3)


def _samples(n: int) -> list[str]:
    return [f"T{i:04d},plasma,2024-01-11 10:41,S1,P001,V{i}\n" for i in range(n)]


def _readouts(n: int) -> list[str]:
    return [f",P001-V1,CD63,{i}.5,pg/mL,elisa,R1,2024-03-05,{i + 1}\n" for i in range(n)]


def _errors(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize(
    ("kind", "header", "rows"),
    [("samples", SAMPLE_HEADER, _samples(30)), ("readouts", READOUT_HEADER, _readouts(30))],
)
def test_a_file_cut_inside_a_quoted_value_is_in_the_errors_file(
    lab: Lab,
    db_url: str,
    tmp_path: Path,
    tiny_chunks: None,
    kind: str,
    header: str,
    rows: list[str],
) -> None:
    base_cohort(lab, tmp_path)
    before = counts(lab)
    cut = header + "".join(rows[:-1]) + rows[-1][:-5].replace(",P001", ',"P001', 1)
    path = write(tmp_path, "cut.csv", cut)
    out = tmp_path / "problems.csv"
    r = run("--db", db_url, "import", kind, str(path), "--errors", str(out))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "cut.csv:31:" in r.stderr and "nothing was imported" in r.stderr
    assert counts(lab) == before
    rows_out = _errors(out)
    assert rows_out[0] == ["row", "column", "value", "message"]
    assert len(rows_out) == 2 and rows_out[1][0] == "31"
    assert "never closed" in rows_out[1][3]
