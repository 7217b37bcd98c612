"""A lab's export re-imported into an empty database gives back the same freezer, on SQLite and
PostgreSQL: the volumes of parents and aliquots (docs/lifecycle.md, "Volume"), boxes of every
size (docs/exports.md, "storage"), through the command line as a lab user runs it."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _copy_template, _fresh_pg
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


def test_boxes_of_every_size_survive_the_round_trip(
    db_url: str, second_url: str, tmp_path: Path
) -> None:
    subjects_file = subjects(db_url, tmp_path)
    cli(db_url, "storage", "add", "F", "--name", "Ultra 1", "--temperature-c", "-80")
    cli(db_url, "storage", "add", "F/R/B1", "--rows", "8", "--cols", "12")
    cli(db_url, "storage", "add", "F/R/BAG", "--rows", "0", "--cols", "0")
    cli(db_url, "storage", "add", "F/R2")  # an empty rack
    register(db_url, "T", "F/R/B1/H12")
    samples_file, storage_file = tmp_path / "samples.csv", tmp_path / "storage.csv"
    cli(db_url, "export", "samples", "--out", str(samples_file))
    cli(db_url, "export", "storage", "--out", str(storage_file))
    assert storage_file.read_text(encoding="utf-8").splitlines() == [
        "location,rows,cols,name,temperature_c",
        "F,,,Ultra 1,-80.0",
        "F/R,,,,",
        "F/R/B1,8,12,,",
        "F/R/BAG,0,0,,",
        "F/R2,,,,",
    ]
    assert Path(str(storage_file) + ".manifest.json").exists()

    cli(second_url, "import", "subjects", str(subjects_file))
    # without the storage, --create-locations would make a box holding H12 (9 x 12, not the
    # box's 8 x 12: a dry run here, the storage file gives the exact size below)
    out = cli(second_url, "import", "samples", str(samples_file), "--create-locations", "--dry-run")
    assert "box F/R/B1" in out and "would be 1 created" in out.replace(",", "")
    out = cli(second_url, "storage", "add", "--from", str(storage_file))
    assert out.splitlines() == [
        "created freezer F",
        "created rack F/R",
        "created box F/R/B1",
        "created box F/R/BAG",
        "created rack F/R2",
    ]
    cli(second_url, "import", "samples", str(samples_file), "--create-locations")
    assert show(second_url, "T")["location"] == "F/R/B1/H12"
    again = tmp_path / "again.csv"
    cli(second_url, "export", "storage", "--out", str(again))
    assert again.read_text(encoding="utf-8") == storage_file.read_text(encoding="utf-8")
    # the same file again creates nothing; a box stored with another size is refused by row
    assert cli(second_url, "storage", "add", "--from", str(storage_file)) == (
        "nothing to create: the file's storage exists\n"
    )
    other = tmp_path / "other.csv"
    other.write_text(
        "Location;Rows;Cols\nF/R/B1;9;9\nF/R/B9;30;9\nF/R/B10;8;12\n", encoding="utf-8"
    )
    err = cli(second_url, "storage", "add", "--from", str(other), code=1)
    assert f"{other}:2:rows: box F/R/B1 exists with 8 x 12 positions, not 9 x 9" in err
    assert f"{other}:3:rows: rows 1-26 and columns 1-99, or 0x0 for a bag" in err
    assert "F/R/B10" not in cli(second_url, "export", "storage")  # nothing written


def test_storage_add_from_a_file_that_is_not_storage(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("box,size\nF/R/B1,8x12\n", encoding="utf-8")
    err = cli(db_url, "storage", "add", "--from", str(bad), code=1)
    assert f"{bad}:1: a storage file needs a location column" in err
    assert "Traceback" not in err
    err = cli(db_url, "storage", "add", "F/R/B1", "--from", str(bad), code=2)
    assert "either" in err
    err = cli(db_url, "storage", "add", "--from", str(tmp_path / "missing.csv"), code=1)
    assert "missing.csv: no such file" in err


def test_storage_differing_only_in_case_is_refused_on_every_path(
    db_url: str, tmp_path: Path
) -> None:
    subjects(db_url, tmp_path)
    cli(db_url, "storage", "add", "F-80-1/R2/B07")
    # storage add: the freezer, a rack, a box
    err = cli(db_url, "storage", "add", "f-80-1/r2/b08", code=1)
    assert "storage F-80-1 exists; did you mean F-80-1/R2/b08?" in err
    err = cli(db_url, "storage", "add", "F-80-1/r2", code=1)
    assert "storage F-80-1/R2 exists; did you mean F-80-1/R2?" in err
    err = cli(db_url, "storage", "add", "F-80-1/R2/b07", "--rows", "8", "--cols", "12", code=1)
    assert "storage F-80-1/R2/B07 exists; did you mean F-80-1/R2/B07?" in err
    # the same path in its own case, and new storage beside it, are fine
    assert "already exists" in cli(db_url, "storage", "add", "F-80-1/R2/B07", code=1)
    assert cli(db_url, "storage", "add", "F-80-1/R3/B07").splitlines() == [
        "created rack F-80-1/R3",
        "created box F-80-1/R3/B07",
    ]
    # an import with --create-locations: each row naming a twin, nothing written
    rows = ["sample_id,biofluid,collected_at,study,subject_id,visit,location"]
    for n, loc in enumerate(["f-80-1/r2/b07/D1", "F-80-1/R2/B07/D2", "F-80-1/R9/B1/A1"], 1):
        rows.append(f"S{n},plasma,2024-03-01 09:15,{STUDY},{SUBJECT},baseline,{loc}")
    rows.append(f"S4,plasma,2024-03-01 09:15,{STUDY},{SUBJECT},baseline,F-80-1/r9/B2/A1")
    path = tmp_path / "samples.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    err = cli(db_url, "import", "samples", str(path), "--create-locations", code=1)
    assert f"{path}:2:location: storage F-80-1 exists; did you mean F-80-1/R2/B07?" in err
    # a rack the file itself creates (row 4) is the one a later row meant
    assert f"{path}:5:location: storage F-80-1/R9 exists; did you mean F-80-1/R9/B2?" in err
    assert "f-80-1" not in cli(db_url, "export", "storage")
    assert "F-80-1/R9" not in cli(db_url, "export", "storage")
    # a storage file and a shipment's box go through the same rule
    storage_file = tmp_path / "storage.csv"
    storage_file.write_text("location,rows,cols\nF-80-1/R2/b07,9,9\n", encoding="utf-8")
    err = cli(db_url, "storage", "add", "--from", str(storage_file), code=1)
    assert f"{storage_file}:2:location: storage F-80-1/R2/B07 exists" in err


def test_unknown_storage_in_another_case_names_the_stored_one_not_a_create(
    db_url: str, tmp_path: Path
) -> None:
    """Without --create-locations, a location whose freezer or rack is stored in another
    case said "create it first (exolab storage add f-80-1/...) or import with
    --create-locations": both are refused (storage differing only in case). It names the
    stored path, with no command that would be refused."""
    subjects(db_url, tmp_path)
    cli(db_url, "storage", "add", "F-80-1/R2/B07")
    rows = ["sample_id,biofluid,collected_at,study,subject_id,visit,location"]
    for n, loc in enumerate(["f-80-1/R2/B07/A1", "F-80-1/r2/B09/A1", "F-80-1/R2/b07/A2"], 1):
        rows.append(f"S{n},plasma,2024-03-01 09:15,{STUDY},{SUBJECT},baseline,{loc}")
    path = tmp_path / "samples.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    err = cli(db_url, "import", "samples", str(path), code=1)
    assert (
        f"{path}:2:location: no freezer f-80-1; storage F-80-1 exists; did you mean "
        "F-80-1/R2/B07? (got 'f-80-1/R2/B07/A1')" in err
    ), err
    assert (
        f"{path}:3:location: no rack F-80-1/r2; storage F-80-1/R2 exists; did you mean "
        "F-80-1/R2/B09? (got 'F-80-1/r2/B09/A1')" in err
    ), err
    assert f"{path}:4:location: no box F-80-1/R2/b07; storage F-80-1/R2/B07 exists" in err
    assert "create it first" not in err


def test_the_ui_box_form_refuses_a_box_differing_only_in_case(db_url: str) -> None:
    from exolab.db.engine import Database
    from exolab.services import storage
    from exolab.services.context import Lab
    from exolab.services.errors import ValidationFailed

    lab = Lab(Database(db_url), "tester")
    with lab.write() as tx:
        storage.create_box(tx, "F-80-1/R2/B07")
    with pytest.raises(ValidationFailed) as refused, lab.write() as tx:
        storage.create_box(tx, "F-80-1/R2/b07")  # what the UI's new-box form calls
    assert str(refused.value) == (
        "location: storage F-80-1/R2/B07 exists; did you mean F-80-1/R2/B07?"
    )
    lab.db.dispose()
