"""Results near the ends of the float range (1e-300, 1e300) through every query output:
the longitudinal export, ``patient`` and ``cohort`` as table, CSV and JSON (docs/exports.md,
docs/longitudinal.md), on SQLite and PostgreSQL.

An import refuses a result beyond 1e100 in magnitude (docs/import-formats.md), but a database
may hold larger ones stored before that rule: the files below import 1e100 where the stored
value is to be 1e300, and :func:`stored_before_the_bound` then writes 1e300 into the
database (and rebuilds the replicate sets), as such a database holds it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.queries.cli import import_files, run

SUBJECTS = "study,subject_id\nS1,P1\n"
SAMPLES = (
    "sample_id,biofluid,collected_at,study,subject_id,visit\n"
    "T1,plasma,2024-01-01 10:00,S1,P1,V1\n"
    "T2,plasma,2024-06-01 10:00,S1,P1,V2\n"
)
READOUTS = (
    "sample_id,analyte,value,unit,assay,run_id,replicate\n"
    "T1,CD63,1e-300,pg/mL,elisa,R1,1\n"
    "T1,CD63,1e100,pg/mL,elisa,R1,2\n"
    "T1,CD9,1e-300,pg/mL,elisa,R1,1\n"
    "T2,CD9,1e100,pg/mL,elisa,R2,1\n"
)


def stored_before_the_bound(db_url: str) -> None:
    """Results imported as 1e100 become 1e300, as stored before imports refused them."""
    from sqlalchemy import text

    from exolab.db.engine import Database
    from exolab.services import readout_sets

    db = Database(db_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(
                text("UPDATE readouts SET value = 1e300, value_text = '1e300' WHERE value = 1e100")
            )
            readout_sets.refresh(conn, readout_sets.PairsOf())
    finally:
        db.dispose()


def load(db_url: str, tmp_path: Path, *files: tuple[str, str]) -> None:
    import_files(db_url, tmp_path, files)
    stored_before_the_bound(db_url)


def strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not JSON (RFC 8259)")

    return json.loads(text, parse_constant=refuse)


def test_replicates_near_the_float_range_are_summarised(db_url: str, tmp_path: Path) -> None:
    """Replicates 1e-300 and 1e300: their CV was an OverflowError (a traceback for the
    longitudinal export and ``patient``); the cohort SD was inf (``Infinity`` in JSON)."""
    load(db_url, tmp_path, ("subjects", SUBJECTS), ("samples", SAMPLES), ("readouts", READOUTS))
    r = run(db_url, "export", "longitudinal", "--analyte", "CD63")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["replicate_mean"] for row in rows] == ["5e+299", "5e+299"]
    assert {round(float(row["replicate_cv"]), 6) for row in rows} == {141.421356}
    for fmt in ("table", "csv", "json"):
        r = run(db_url, "patient", "S1", "P1", "--analyte", "CD63", "--format", fmt)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    data = strict_json(run(db_url, "patient", "S1", "P1", "--format", "json").stdout)
    assert {round(d["replicate_cv"], 6) for d in data if d["analyte"] == "CD63"} == {141.421356}
    r = run(db_url, "cohort", "CD63", "--format", "json")
    assert r.returncode == 0, r.stderr
    (summary,) = strict_json(r.stdout)
    assert summary["mean"] == 5e299 and summary["n"] == 1
    r = run(db_url, "cohort", "CD63", "--by", "visit", "--format", "json")
    mixed = "T1,CD63,1e100,pg/mL,elisa,R3,1\n"  # a second set: an SD across 5e299 and 1e300
    load(db_url, tmp_path, ("readouts", "sample_id,analyte,value,unit,assay,run_id,"
                            "replicate\n" + mixed))  # fmt: skip
    (summary,) = strict_json(run(db_url, "cohort", "CD63", "--format", "json").stdout)
    assert summary["n"] == 2 and round(summary["sd"] / 1e299, 6) == 3.535534


def test_a_change_beyond_the_float_range_is_null_in_json(db_url: str, tmp_path: Path) -> None:
    """A percent change from a baseline of 1e-300 to 1e300 is beyond the float range: JSON
    has no Infinity, so ``patient --format json`` writes null (it wrote ``Infinity``, which
    JSON readers refuse); the CSV keeps ``inf`` (read by R and pandas)."""
    load(db_url, tmp_path, ("subjects", SUBJECTS), ("samples", SAMPLES), ("readouts", READOUTS))
    r = run(db_url, "patient", "S1", "P1", "--analyte", "CD9", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = strict_json(r.stdout)
    later = next(d for d in rows if d["visit"] == "V2")
    assert later["change_from_baseline"] == 1e300
    assert later["pct_change_from_baseline"] is None and later["fold_change"] is None
    r = run(db_url, "patient", "S1", "P1", "--analyte", "CD9", "--format", "csv")
    later_csv = next(d for d in csv.DictReader(io.StringIO(r.stdout)) if d["visit"] == "V2")
    assert later_csv["pct_change_from_baseline"] == "inf"


def test_an_export_into_a_closed_pipe_ends_without_a_traceback(db_url: str, tmp_path: Path) -> None:
    """``exolab export longitudinal | head -1``: the reader goes away mid-stream. exit 0 and
    nothing on stderr (SQLite printed 'Exception ignored ... Cannot operate on a closed
    database' with a traceback, closing the stream's cursor after its connection)."""
    import os

    lines = ["sample_id,analyte,value,unit,assay,replicate"]
    lines += [f"T{i % 2 + 1},CD63,{i},pg/mL,elisa,{i // 2 + 1}" for i in range(3000)]
    import_files(
        db_url,
        tmp_path,
        (("subjects", SUBJECTS), ("samples", SAMPLES), ("readouts", "\n".join(lines) + "\n")),
    )
    env = {**os.environ, "EXOLAB_USER": "tester", "EXOLAB_DATABASE_URL": db_url}
    for kind in ("longitudinal", "readouts"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "exolab", "export", kind],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith(b"study," if kind == "longitudinal" else b"iso")
        proc.stdout.close()  # as `head -1` does
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0, err
        assert err == "", err


def test_a_stream_left_mid_way_closes_quietly_after_its_connection(
    db_url: str, tmp_path: Path
) -> None:
    """A stream abandoned mid-way (its reader went away) is finalised after the command
    closed the database: closing its cursor then must not raise (SQLite printed 'Exception
    ignored ... Cannot operate on a closed database' and a traceback after `| head`)."""
    from exolab.db.raw import connect

    import_files(db_url, tmp_path, (("subjects", "study,subject_id\nS1,P1\nS1,P2\nS1,P3\n"),))
    reader = connect(db_url)
    if reader is None:  # (a URL the driver path does not open)
        return
    rows = reader.stream("SELECT subject_code FROM subjects ORDER BY id", batch=1)
    assert next(rows) == ("P1",)
    reader.close()
    rows.close()  # as the garbage collector does, later


def test_query_csv_guards_formula_text_as_the_export_does(db_url: str, tmp_path: Path) -> None:
    """``patient --format csv`` prints the same as the longitudinal export: a group typed
    ``=case`` (a spreadsheet formula) is written ``'=case`` in both (docs/security.md); the
    query's CSV wrote it bare. JSON and the table keep the text as stored."""
    import_files(
        db_url,
        tmp_path,
        (
            ("subjects", "study,subject_id,group\nS1,P1,=HYPERLINK(1)\n"),
            ("samples", SAMPLES),
            ("readouts", "sample_id,analyte,value,unit,assay\nT1,CD63,-1.5,pg/mL,elisa\n"),
        ),
    )
    exported = run(db_url, "export", "longitudinal").stdout
    r = run(db_url, "patient", "S1", "P1", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout == exported
    (row,) = csv.DictReader(io.StringIO(r.stdout))
    assert (row["group"], row["value"], row["comparator"]) == ("'=HYPERLINK(1)", "-1.5", "=")
    (data,) = strict_json(run(db_url, "patient", "S1", "P1", "--format", "json").stdout)
    assert data["group"] == "=HYPERLINK(1)"
