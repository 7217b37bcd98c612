"""Database integrity check and consistent online backup."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from sqlalchemy import func, select, text

from exolab.db import migrate
from exolab.db.models import Box, Sample
from exolab.services.audit import verify_chain
from exolab.services.context import Lab
from exolab.services.errors import ExolabError
from exolab.services.safe_files import exclusive_temp, publish
from exolab.services.storage import position_names


def check_database(lab: Lab) -> tuple[list[str], list[str]]:
    """Return (problems, notes). Checks the engine's own integrity, foreign keys, storage
    geometry, freeze-thaw counts and the audit hash chain."""
    problems: list[str] = []
    notes: list[str] = [f"schema revision {migrate.current_revision(lab.db.engine)} (head)"]
    with lab.read() as tx:
        s = tx.session
        if lab.db.dialect == "sqlite":
            result = [r[0] for r in s.execute(text("PRAGMA integrity_check"))]
            if result != ["ok"]:
                problems.extend(f"sqlite integrity: {r}" for r in result)
            else:
                notes.append("sqlite integrity_check: ok")
            fk = s.execute(text("PRAGMA foreign_key_check")).all()
            problems.extend(f"foreign key: {r[0]} row {r[1]} -> {r[2]}" for r in fk)
            if not fk:
                notes.append("foreign keys: ok")
        for box in s.scalars(select(Box)):
            valid = set(position_names(box.n_rows, box.n_cols))
            bad = s.scalars(
                select(Sample.sample_code).where(
                    Sample.box_id == box.id,
                    Sample.position.is_not(None),
                    Sample.position.not_in(valid) if valid else Sample.position.is_not(None),
                )
            ).all()
            problems.extend(
                f"sample {code} is at a position box {box.path} does not have" for code in bad
            )
        n = s.scalar(select(func.count()).select_from(Sample).where(Sample.freeze_thaw_count < 0))
        if n:
            problems.append(f"{n} samples have a negative freeze-thaw count")
        chain = verify_chain(tx)
        (notes if chain.ok else problems).append(chain.message)
    return problems, notes


def backup(lab: Lab, path: str | Path) -> Path:
    """A consistent, verified copy taken while others may be writing: SQLite ``VACUUM INTO``
    (checked with ``PRAGMA integrity_check``), PostgreSQL ``pg_dump`` in custom format (checked
    by ``pg_restore --list``). Written to a temporary file beside ``path`` and given its name
    only when complete and verified (see :mod:`exolab.services.safe_files`)."""
    target = Path(path).expanduser().absolute()
    with exclusive_temp(target) as tmp:
        if lab.db.dialect == "sqlite":
            raw = lab.db.engine.raw_connection()
            try:  # outside any transaction: the driver connection is in autocommit mode
                # VACUUM INTO writes into the empty file created exclusively above.
                raw.driver_connection.execute("VACUUM INTO ?", (str(tmp.temp),))  # type: ignore[union-attr]
            finally:
                raw.close()
            return publish(tmp, verify_sqlite_backup)
        _pg_dump(lab, tmp.temp)
        return publish(tmp, verify_pg_backup)


def verify_sqlite_backup(path: Path) -> None:
    """Open the copy read-only: the engine's integrity check passes and it has a schema."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ExolabError(f"the backup could not be verified ({exc}); nothing was kept") from None
    if result != ["ok"] or not version:
        raise ExolabError(
            f"the backup failed its integrity check ({'; '.join(result)[:200]}); nothing was kept"
        )


def _pg_env(lab: Lab) -> tuple[list[str], dict[str, str]]:
    """The connection argument for the PostgreSQL tools, the password in the environment
    (a password on the command line is visible to every user of the machine)."""
    import os

    url = lab.db.engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return [url.set(password=None).render_as_string(hide_password=False)], env


def _pg_dump(lab: Lab, out: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise ExolabError("pg_dump is not installed; install the PostgreSQL client tools")
    conn, env = _pg_env(lab)
    proc = subprocess.run(
        [pg_dump, "--format=custom", "--file", str(out), *conn],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if proc.returncode != 0:
        raise ExolabError(f"pg_dump failed: {proc.stderr.strip()}")


def verify_pg_backup(path: Path) -> None:
    """``pg_restore --list`` reads the whole archive's table of contents, with table data."""
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise ExolabError("pg_restore is not installed; install the PostgreSQL client tools")
    proc = subprocess.run(
        [pg_restore, "--list", str(path)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or "TABLE DATA" not in proc.stdout:
        raise ExolabError(
            f"the backup could not be verified (pg_restore: {proc.stderr.strip()[:200]}); "
            "nothing was kept"
        )
