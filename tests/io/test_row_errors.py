"""Problems name the cell at fault; database errors never show SQL or values."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import DataError

from exolab.services.context import Lab
from exolab.services.errors import database_error_text
from tests.test_cli import run

from .helpers import SUBJECTS, counts, failure, load, write

SAMPLES_SAME_POSITION = """sample_id,biofluid,collected_at,study,subject_id,visit,location
P001-V1,plasma,2024-01-11 10:41,S1,P001,baseline,F-80/R1/B01/A1
P001-V2,plasma,2024-04-11 10:00,S1,P001,M3,F-80/R1/B01/A1
"""


def test_taken_position_is_reported_on_location(lab: Lab, tmp_path: Path) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    lines = failure(lab, tmp_path, "samples", SAMPLES_SAME_POSITION, create_locations=True)
    assert lines[0].startswith(
        "samples.csv:3:location: position F-80/R1/B01/A1 is taken by sample P001-V1"
    ), lines
    assert counts(lab)[1] == 0


def test_position_taken_by_an_earlier_import(lab: Lab, tmp_path: Path) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    first = SAMPLES_SAME_POSITION.rsplit("\n", 2)[0] + "\n"
    load(lab, tmp_path, "samples", first, create_locations=True)
    text = SAMPLES_SAME_POSITION.replace(
        "P001-V1,plasma,2024-01-11 10:41,S1,P001,baseline,F-80/R1/B01/A1\n", ""
    )
    lines = failure(lab, tmp_path, "samples", text)
    assert lines[0].startswith("samples.csv:2:location: position F-80/R1/B01/A1 is taken"), lines


SQL = "INSERT INTO samples (sample_code, notes) VALUES (%(code)s, %(notes)s)"
SECRET = {"code": "P001-V1", "notes": "secret patient remark"}


def refuse_inserts(lab: Lab, table: str, where: str, message: str) -> None:
    """A trigger in the database itself refuses the rows matching ``where`` with ``message``
    (as a DBA's rule or a driver-level refusal would): a real database error on whichever
    write path reaches the table, nothing patched in exolab."""
    with lab.db.engine.begin() as c:
        if lab.db.dialect == "sqlite":
            c.exec_driver_sql(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN {where} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        else:
            c.exec_driver_sql(
                f"CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = '22021'; END $$"
            )
            c.exec_driver_sql(
                f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW "
                f"WHEN ({where}) EXECUTE FUNCTION refuse_{table}()"
            )


def test_database_error_in_an_import_names_the_row_not_the_sql(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    refuse_inserts(
        lab,
        "samples",
        "substr(NEW.sample_code, 1, 1) = 'X'",
        "text fields cannot contain NUL bytes",
    )
    text = (
        "sample_id,biofluid,collected_at,study,subject_id,visit,notes\n"
        "X1,plasma,2024-01-11,S1,P001,v1,secret patient remark\n"
    )
    for bulk in (False, True):  # the per-record path and the bulk path
        lines = failure(lab, tmp_path, "samples", text, bulk=bulk)
        assert lines[0].startswith("samples.csv:2:sample_id: the database refused the change"), (
            lines
        )
        assert "NUL" in lines[0]
        assert "INSERT" not in lines[0] and "secret" not in lines[0]
    many = text + "".join(f"X{i},plasma,2024-01-11,S1,P001,v1,\n" for i in range(2, 5))
    lines = failure(lab, tmp_path, "samples", many)
    assert lines[0].startswith("samples.csv:2:sample_id: the database refused the change"), lines
    assert "rows 2-5 are written together" in lines[0]
    assert counts(lab)[1] == 0
    path = write(tmp_path, "s.csv", text)
    r = run("--db", db_url, "import", "samples", str(path))
    assert r.returncode == 1 and "s.csv:2:sample_id: the database refused" in r.stderr
    assert "INSERT" not in r.stderr and "secret" not in r.stderr and "Traceback" not in r.stderr


def test_database_error_outside_imports_is_plain(lab: Lab, db_url: str) -> None:
    refuse_inserts(
        lab, "users", "NEW.name = 'x'", 'duplicate key value violates unique constraint "uq_users"'
    )
    r = run("--db", db_url, "user", "add", "x", "--role", "viewer")
    assert r.returncode == 1
    assert "duplicate key value" in r.stderr
    assert "INSERT" not in r.stderr and "secret" not in r.stderr and "Traceback" not in r.stderr


def test_database_error_text_ignores_other_errors() -> None:
    assert database_error_text(ValueError("x")) is None
    text = database_error_text(DataError(SQL, SECRET, Exception("bad\nINSERT INTO x")))
    assert text == "the database refused the change (Exception: bad)"


def test_conditioned_medium_of_a_subject_names_all_three(
    lab: Lab, tmp_path: Path, sqlite_url: str
) -> None:
    """A conditioned-medium tube may come from a subject as well as from its cell source;
    then it names the study, subject and visit, like any tube of a subject. Given in part it
    was an 'unexpected AssertionError' (import and `sample register`); now the row names the
    first missing column, on both import paths, and nothing is written."""
    load(lab, tmp_path, "subjects", SUBJECTS)
    load(lab, tmp_path, "cell_sources", "cell_source_id,cell_type\nMSC-1,MSC\n")
    head = "sample_id,biofluid,collected_at,study,subject_id,visit,cell_source_id\n"
    cases = {
        "CM-1,conditioned_medium,2024-01-01 10:00,,P001,,MSC-1\n": "study",
        "CM-1,conditioned_medium,2024-01-01 10:00,S1,P001,,MSC-1\n": "visit",
        "CM-1,conditioned_medium,2024-01-01 10:00,S1,,baseline,MSC-1\n": "subject_id",
    }
    for row, column in cases.items():
        for bulk in (True, False):
            lines = failure(lab, tmp_path, "samples", head + row, bulk=bulk)
            assert lines[0].startswith(f"samples.csv:2:{column}: required with"), lines
            assert "AssertionError" not in "\n".join(lines)
    assert counts(lab)[1] == 0
    load(
        lab,
        tmp_path,
        "samples",
        head + "CM-1,conditioned_medium,2024-01-01 10:00,S1,P001,baseline,MSC-1\n",
    )
    assert counts(lab)[1] == 1
    done = run(
        "--db", sqlite_url, "sample", "register", "CM-2", "--biofluid", "conditioned_medium",
        "--collected-at", "2024-01-01 10:00", "--cell-source-id", "MSC-1", "--subject-id", "P001",
    )  # fmt: skip
    assert done.returncode == 1
    assert "study: required with subject_id" in done.stderr and "Assertion" not in done.stderr


def test_a_cell_source_on_a_tube_of_a_subject_is_refused(lab: Lab, tmp_path: Path) -> None:
    """Only conditioned medium (and its aliquots) is stored with a cell source. A plasma tube
    given one kept its subject and dropped the cell source without a word; now the row
    names the column, on both import paths, and nothing is written."""
    load(lab, tmp_path, "subjects", SUBJECTS)
    load(lab, tmp_path, "cell_sources", "cell_source_id,cell_type\nMSC-1,MSC\n")
    text = (
        "sample_id,biofluid,collected_at,study,subject_id,visit,cell_source_id\n"
        "PL-1,plasma,2024-01-01 10:00,S1,P001,baseline,MSC-1\n"
    )
    for bulk in (True, False):
        lines = failure(lab, tmp_path, "samples", text, bulk=bulk)
        assert lines[0].startswith(
            "samples.csv:2:cell_source_id: a plasma tube comes from its subject"
        ), lines
    assert counts(lab)[1] == 0
