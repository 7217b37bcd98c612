"""Imports in real processes: two at once, a kill -9 in the middle, and the CLI surface."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select, text

from exolab.db.models import ImportBatch, Readout
from exolab.services.context import Lab

from .helpers import READOUTS, SUBJECTS, base_cohort, counts, write

HEADER = "isolation_id,analyte,value,unit,assay,run_id,replicate\n"


def readout_file(tmp: Path, name: str, rows: int, analyte: str = "CD63") -> Path:
    lines = [HEADER]
    for i in range(rows):
        iso = f"ISO-{i % 3 + 1}"
        lines.append(f"{iso},{analyte},{i * 0.5:.1f},pg/mL,elisa,R-{analyte},{i // 3 + 1}\n")
    return write(tmp, name, "".join(lines))


def exolab(*args: str, db: str) -> subprocess.Popen[str]:
    env = {**os.environ, "EXOLAB_USER": "tester", "EXOLAB_DATABASE_URL": db}
    env.pop("EXOLAB_DEBUG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "exolab", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def run(*args: str, db: str) -> tuple[int, str, str]:
    p = exolab(*args, db=db)
    out, err = p.communicate(timeout=600)
    return p.returncode, out, err


def test_two_imports_at_once(lab: Lab, db_url: str, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    a = readout_file(tmp_path, "a.csv", 6000, "CD63")
    b = readout_file(tmp_path, "b.csv", 6000, "CD9")
    same = [exolab("import", "readouts", str(a), db=db_url) for _ in range(2)]
    other = exolab("import", "readouts", str(b), db=db_url)
    results = [p.communicate(timeout=600) for p in [*same, other]]
    codes = [p.returncode for p in [*same, other]]
    for (_out, err), code in zip(results, codes, strict=True):
        assert "Traceback" not in err
        assert code == 0 or "busy" in err, err
    with lab.read() as tx:
        batches = tx.session.execute(
            select(ImportBatch.file_name, ImportBatch.counts).where(ImportBatch.kind == "readouts")
        ).all()
        for batch_id in tx.session.scalars(select(ImportBatch.id)):
            n = tx.session.scalar(
                select(func.count()).select_from(Readout).where(Readout.batch_id == batch_id)
            )
            c = tx.session.get(ImportBatch, batch_id)
            assert c is not None
            assert n == c.counts.get("created", 0) or c.kind != "readouts"
    assert counts(lab)[2] == 12_000
    created = sorted(c["created"] for _, c in batches)
    assert created[-2:] == [6000, 6000]
    if len(batches) == 3:  # the same file twice: the second found everything there
        assert created[0] == 0


def _mid_import(db_url: str, db_path: Path | None, proc: subprocess.Popen[str]) -> None:
    """Wait until the import is writing inside its transaction, then a little longer (its
    150,000 rows take seconds more). SQLite: another connection cannot take the write lock
    (the import holds it from its start to its commit; its rows stay in its 64 MB page cache
    until the commit, so the WAL's size says nothing). PostgreSQL: another session holds a
    transaction id, i.e. has written something it has not committed."""
    from sqlalchemy import create_engine

    deadline = time.monotonic() + 300
    eng = create_engine(db_url) if db_path is None else None
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            if db_path is not None:
                probe = sqlite3.connect(db_path, timeout=0)
                try:
                    probe.execute("BEGIN IMMEDIATE")
                    probe.rollback()
                except sqlite3.OperationalError:
                    time.sleep(0.3)
                    return
                finally:
                    probe.close()
            else:
                assert eng is not None
                with eng.connect() as c:
                    writing = c.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                            " AND backend_xid IS NOT NULL"
                        )
                    ).scalar()
                if writing:
                    time.sleep(0.3)
                    return
            time.sleep(0.02)
    finally:
        if eng is not None:
            eng.dispose()
    raise AssertionError("the import never got going")


def test_kill_9_mid_import_leaves_database_as_before(
    lab: Lab, db_url: str, backend: str, tmp_path: Path
) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    before = counts(lab)
    with lab.read() as tx:
        batches_before = tx.session.scalar(select(func.count()).select_from(ImportBatch))
    big = readout_file(tmp_path, "big.csv", 150_000)
    proc = exolab("import", "readouts", str(big), db=db_url)
    db_path = Path(db_url.removeprefix("sqlite:///")) if backend == "sqlite" else None
    _mid_import(db_url, db_path, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert counts(lab) == before
    with lab.read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(ImportBatch)) == batches_before
        if backend == "sqlite":
            assert tx.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    code, _out, err = run("import", "readouts", str(readout_file(tmp_path, "s.csv", 30)), db=db_url)
    assert code == 0, err
    assert counts(lab)[2] == before[2] + 30


def test_cli_import_export_undo(lab: Lab, db_url: str, tmp_path: Path) -> None:
    subjects = write(tmp_path, "subjects.csv", SUBJECTS)
    code, out, err = run("import", "subjects", str(subjects), "--dry-run", db=db_url)
    assert code == 0, err
    assert "would be 2 created, 0 updated, 0 unchanged, 0 skipped, 0 refused" in out
    code, out, _ = run("import", "subjects", str(subjects), db=db_url)
    assert code == 0
    assert re.match(r"import batch \d+: subjects from ", out)
    base_cohort(lab, tmp_path)
    bad = write(
        tmp_path,
        "bad.csv",
        READOUTS.replace("pg/mL,elisa,R1,2024-03-05,2", "pg/mL,elisa,R1,2024-03-05,-2"),
    )
    errors = tmp_path / "errors.csv"
    code, out, err = run("import", "readouts", str(bad), "--errors", str(errors), db=db_url)
    assert code == 1
    assert f"{bad}:3:replicate: " in err
    assert "nothing was imported" in err
    assert "Traceback" not in err
    assert errors.read_text().splitlines()[1].startswith("3,replicate,-2,")
    good = write(tmp_path, "good.csv", READOUTS)
    code, out, err = run("import", "readouts", str(good), db=db_url)
    assert code == 0, err
    batch = out.split()[2].rstrip(":")
    code, out, err = run("export", "readouts", db=db_url)
    assert code == 0
    assert out.splitlines()[0] == (
        "isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod,lloq,"
        "uloq,antibody,antibody_dilution,lysis_buffer,instrument,qc,notes,well,dilution_factor"
    )
    assert out.splitlines()[1] == "ISO-1,,CD63,12.5,pg/mL,elisa,R1,2024-03-05,1,0.5,,,,,,,pass,,,"
    assert len(out.splitlines()) == 5
    code, out, err = run("import", "--undo", batch, db=db_url)
    assert code == 0, err
    assert f"import batch {batch} (readouts from {good}) undone: removed 4 readouts" in out
    code, out, err = run("import", "--undo", batch, db=db_url)
    assert code == 1 and "already undone" in err
    code, out, err = run("import", "widgets", str(good), db=db_url)
    assert code == 1 and "unknown import kind" in err
    code, out, err = run("import", "readouts", str(tmp_path / "missing.csv"), db=db_url)
    assert code == 1 and "no such file" in err and "Traceback" not in err
    code, out, err = run("template", "subjects", db=db_url)
    assert code == 0
    assert (
        out.splitlines()[0]
        == "study,subject_id,sex,birth_year,group,diagnosis,enrolled_on,consent,notes"
    )
    assert out.splitlines()[1].startswith("# PDAC-EV,P001,F,")


def test_cli_longitudinal_export_with_manifest(lab: Lab, db_url: str, tmp_path: Path) -> None:
    import json

    base_cohort(lab, tmp_path, readouts=True)
    out = tmp_path / "long.csv"
    code, _, err = run(
        "export", "longitudinal", "--out", str(out), "--analyte", "CD63", "--study", "S1",
        "--wide", "--deidentify", "--salt", "pepper-0123456789", db=db_url,
    )  # fmt: skip
    assert code == 0, err
    assert "2 rows written to" in err  # ISO-1 (two replicates) and ISO-2
    lines = out.read_text().splitlines()
    assert lines[0].endswith(",CD63 [pg/mL]")
    assert "P001" not in out.read_text()
    manifest = json.loads((tmp_path / "long.csv.manifest.json").read_text())
    assert manifest["rows"] == 2
    assert manifest["filters"]["analytes"] == ["CD63"] and manifest["filters"]["study"] == "S1"
    assert manifest["wide"] is True and manifest["deidentified"] is True
    assert "pepper" not in json.dumps(manifest)
    code, _, err = run("export", "subjects", "--salt", "x", db=db_url)
    assert code == 2 and "--salt goes with --deidentify" in err
