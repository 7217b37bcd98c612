"""What the command line says where a lab user would stop and wonder, on SQLite and
PostgreSQL: a refused check-out, a pick list row of a tube nothing can be taken from, a backup
onto a file that exists."""

from __future__ import annotations

import csv
from pathlib import Path

from exolab.db.engine import Database
from exolab.services import samples
from exolab.services.context import Lab
from tests.io.test_freezer_round_trip import register, subjects
from tests.test_cli_records import cli


def test_checking_out_a_checked_out_tube_says_why_in_words(db_url: str, tmp_path: Path) -> None:
    subjects(db_url, tmp_path)
    cli(db_url, "storage", "add", "F/R/B1")
    register(db_url, "T", "F/R/B1/A1")
    cli(db_url, "sample", "checkout", "T", "--reason", "assay")
    err = cli(db_url, "sample", "checkout", "T", "--reason", "again", code=1)
    assert "sample T is checked_out (it is checked out already); it cannot check out." in err
    assert "its status is" not in err and "(to checked_out)" not in err
    cli(db_url, "sample", "return", "T", "--reason", "back")
    err = cli(db_url, "sample", "return", "T", "--reason", "again", code=1)
    assert "sample T is available (it is not checked out); it cannot return." in err


def test_a_pick_list_takes_nothing_from_a_discarded_tube(db_url: str, tmp_path: Path) -> None:
    subjects(db_url, tmp_path)
    cli(db_url, "storage", "add", "F/R/B1")
    register(db_url, "KEEP", "F/R/B1/A1")
    register(db_url, "GONE", "F/R/B1/A2")
    cli(db_url, "sample", "discard", "GONE", "--reason", "thawed by accident")
    out = tmp_path / "pick.csv"
    cli(db_url, "picklist", "KEEP", "GONE", "--take", "0.5", "--out", str(out))
    rows = {r["sample_id"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert (rows["KEEP"]["take_ml"], rows["KEEP"]["note"]) == ("0.5", "")
    assert rows["GONE"]["take_ml"] == ""
    assert rows["GONE"]["note"] == "not in storage (discarded); nothing can be taken from it"
    # a missing tube keeps its place in the list, with no amount either
    lab = Lab(Database(db_url), "tester")
    with lab.write() as tx:  # (what the UI's "mark missing" does)
        samples.set_status(tx, "KEEP", "lose", reason="not in its box")
    lab.db.dispose()
    cli(db_url, "picklist", "KEEP", "--take", "0.5", "--out", str(out))
    (row,) = csv.DictReader(out.open(encoding="utf-8"))
    assert row["take_ml"] == ""
    assert row["note"] == (
        "status missing: it is not where the record says; find it and return it first; "
        "nothing can be taken from it"
    )


def test_backup_onto_an_existing_file_names_that_file(db_url: str, tmp_path: Path) -> None:
    target = tmp_path / "lab.bak"
    cli(db_url, "db", "backup", str(target))
    err = cli(db_url, "db", "backup", str(target), code=1)
    assert f"{target} exists; choose a new file name" in err
    assert ".anchor.json" not in err
    # the backup gone but its anchor left: the anchor is named for what it is
    target.unlink()
    err = cli(db_url, "db", "backup", str(target), code=1)
    assert f"{target}.anchor.json exists (an earlier backup's audit anchor)" in err
    other = tmp_path / "existing.txt"
    other.write_text("keep me\n", encoding="utf-8")
    err = cli(db_url, "db", "backup", str(other), code=1)
    assert f"{other} exists; choose a new file name" in err
    assert other.read_text(encoding="utf-8") == "keep me\n"
