"""A lab's export re-imported into an empty database gives back the same freezer, on SQLite and
PostgreSQL: the volumes of parents and aliquots (docs/lifecycle.md, "Volume"), boxes of every
size (docs/exports.md, "storage"), through the command line as a lab user runs it."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _fresh_pg, _copy_template
from tests.test_cli_records import cli, show

STUDY, SUBJECT = "EVS", "P01"


@pytest.fixture
def second_url(backend: str, _templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A second fresh, initialised database of the same backend (the empty one an export is
    imported into)."""
    if backend == "sqlite":
        target = tmp_path / "second.db"
        _copy_template(_templates["sqlite"], target)
        yield f"sqlite:///{target}"
    else:
        yield from _fresh_pg(_templates)


def register(db_url: str, code: str, location: str | None = None, volume: str = "2") -> None:
    args = ["sample", "register", code, "--biofluid", "plasma"]
    args += ["--collected-at", "2024-03-01 09:15", "--study", STUDY, "--subject-id", SUBJECT]
    args += ["--visit", "baseline", "--volume-ml", volume]
    if location is not None:
        args += ["--location", location]
    cli(db_url, *args)


def subjects(db_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "subjects.csv"
    path.write_text(f"study,subject_id\n{STUDY},{SUBJECT}\n", encoding="utf-8")
    cli(db_url, "import", "subjects", str(path))
    return path


def volumes(db_url: str, *codes: str) -> dict[str, float]:
    return {c: float(str(show(db_url, c)["volume_ml"])) for c in codes}


def test_volumes_of_parent_and_aliquots_survive_the_round_trip(
    db_url: str, second_url: str, tmp_path: Path
) -> None:
    subjects_file = subjects(db_url, tmp_path)
    register(db_url, "P")
    cli(db_url, "sample", "aliquot", "P", "A3", "A4", "--volume-ml", "0.5")
    cli(db_url, "sample", "aliquot", "P", "A5", "--volume-ml", "0.5")
    cli(db_url, "sample", "checkout", "A4", "--reason", "assay")
    cli(db_url, "sample", "return", "A4", "--volume-used-ml", "0.2", "--reason", "assay done")
    before = volumes(db_url, "P", "A3", "A4", "A5")
    assert before == {"P": 0.5, "A3": 0.5, "A4": 0.3, "A5": 0.5}

    out = tmp_path / "samples.csv"
    cli(db_url, "export", "samples", "--out", str(out))
    cli(second_url, "import", "subjects", str(subjects_file))
    cli(second_url, "import", "samples", str(out))
    assert volumes(second_url, "P", "A3", "A4", "A5") == before
    # P's registered volume is what is left plus what its aliquots register: 0.5 + 1.3
    exported = {r["sample_id"]: r["volume_ml"] for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert exported == {"P": "1.8", "A3": "0.5", "A4": "0.3", "A5": "0.5"}
    trail = cli(db_url, "audit", "--entity", "sample", "--id", "P", "--format", "csv")
    assert "return of A4 used 0.2 mL of aliquot A4" in trail
    # the exported file re-imported into the database it came from changes nothing
    assert "0 created" in cli(db_url, "import", "samples", str(out), "--dry-run")
    cli(db_url, "import", "samples", str(out))
    assert volumes(db_url, "P", "A3", "A4", "A5") == before
    # and the second database exports the same file
    again = tmp_path / "again.csv"
    cli(second_url, "export", "samples", "--out", str(again))
    rows = {r["sample_id"]: r["volume_ml"] for r in csv.DictReader(out.open(encoding="utf-8"))}
    rows_again = {
        r["sample_id"]: r["volume_ml"] for r in csv.DictReader(again.open(encoding="utf-8"))
    }
    assert rows == rows_again
