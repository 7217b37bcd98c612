"""Database integrity check and consistent online backup."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import URL, and_, func, or_, select, text

from exolab.db import migrate
from exolab.db.models import Analyte, Box, Isolation, Readout, Sample
from exolab.domain.readout_rules import key_text, limits_rule
from exolab.domain.values import CT_UNIT
from exolab.services.audit import verify_chain
from exolab.services.context import Lab
from exolab.services.errors import Conflict, ExolabError
from exolab.services.lifecycle import OUT_OF_STORAGE
from exolab.services.safe_files import exclusive_temp, publish
from exolab.services.storage import position_names

MAX_NAMED = 20  # tubes named per kind of problem


def check_database(lab: Lab) -> tuple[list[str], list[str]]:
    """Return (problems, notes). Checks the engine's own integrity, foreign keys, storage
    geometry, tubes out of storage that hold a position, freeze-thaw counts, readouts whose
    limits are out of order and the audit hash chain."""
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
        # one query per box geometry in use (not per box: a biobank has thousands of boxes)
        shapes = s.execute(select(Box.n_rows, Box.n_cols).distinct()).all()
        misplaced: list[tuple[str, str]] = []
        for n_rows, n_cols in shapes:
            valid = position_names(n_rows, n_cols)
            misplaced.extend(
                (code, path)
                for code, path in s.execute(
                    select(Sample.sample_code, Box.path)
                    .join(Box, Box.id == Sample.box_id)
                    .where(
                        Box.n_rows == n_rows,
                        Box.n_cols == n_cols,
                        Sample.position.is_not(None),
                        Sample.position.not_in(valid) if valid else Sample.position.is_not(None),
                    )
                )
            )
        problems.extend(
            f"sample {code} is at a position box {path} does not have"
            for code, path in sorted(misplaced, key=lambda m: (m[1], m[0]))
        )
        # tubes out of storage hold no position (docs/lifecycle.md): one that does blocks it
        held = s.execute(
            select(Sample.sample_code, Sample.status, Box.path, Sample.position)
            .join(Box, Box.id == Sample.box_id)
            .where(Sample.status.in_(OUT_OF_STORAGE))
            .order_by(Sample.sample_code)
            .limit(MAX_NAMED + 1)
        ).all()
        problems.extend(
            f"sample {code} is {status} but holds position {path}"
            + (f"/{position}" if position else "")
            for code, status, path, position in held[:MAX_NAMED]
        )
        if len(held) > MAX_NAMED:
            problems.append("(more tubes out of storage hold a position)")
        n = s.scalar(select(func.count()).select_from(Sample).where(Sample.freeze_thaw_count < 0))
        if n:
            problems.append(f"{n} samples have a negative freeze-thaw count")
        problems.extend(_limits_out_of_order(s))
        chain = verify_chain(tx)
        (notes if chain.ok else problems).append(chain.message)
        if lab.db.dialect == "postgresql":
            from exolab.db import pg_fk
            from exolab.services.pgroles import unaudited_changes

            # most references of the records are kept by triggers there
            # (docs/reliability.md)
            refs = pg_fk.problems(s.connection())
            problems.extend(refs)
            if not refs:
                tables = ", ".join(pg_fk.CHILDREN[:-1]) + " and " + pg_fk.CHILDREN[-1]
                notes.append(f"references of {tables}: ok (enforced by triggers)")

            try:
                unaudited = unaudited_changes(s.connection())
            except Exception:  # no data_changes table (an older schema)
                unaudited = []
            problems.extend(unaudited)
            if not unaudited:
                notes.append("every data change by an exolab login has an audit event")
    return problems, notes


def _limits_out_of_order(s: Any) -> list[str]:
    """Readouts stored with limits that the limits rule refuses (domain/readout_rules.py;
    stored before it, or behind exolab's back): kept as they are, the first MAX_NAMED named
    with the rule's own message, in one query."""
    out_of_order = and_(
        Readout.uloq.is_not(None),
        or_(Readout.unit.is_(None), Readout.unit != CT_UNIT),
        or_(Readout.uloq < Readout.lloq, Readout.lod > Readout.uloq),
    )
    found = s.execute(
        select(
            Isolation.isolation_code,
            Sample.sample_code,
            Analyte.code,
            Readout.assay,
            Readout.run_code,
            Readout.replicate,
            Readout.lod,
            Readout.lloq,
            Readout.uloq,
            Readout.unit,
            func.count().over(),
        )
        .join(Sample, Sample.id == Readout.sample_id)
        .join(Analyte, Analyte.id == Readout.analyte_id)
        .outerjoin(Isolation, Isolation.id == Readout.isolation_id)
        .where(out_of_order)
        .order_by(Readout.id)
        .limit(MAX_NAMED)
    ).all()
    out = []
    for iso, sample, analyte, assay, run, rep, lod, lloq, uloq, unit, _n in found:
        broken = limits_rule(lod, lloq, uloq, unit)
        if broken is not None:
            key = key_text(iso or sample, analyte, assay, run, rep)
            out.append(f"readout {key}: {broken[0]} {broken[1]}")
    if found and found[0][-1] > len(found):
        out.append(f"({found[0][-1] - len(found)} more readouts with limits out of order)")
    return out


def anchor_path(backup_file: Path) -> Path:
    return backup_file.with_name(backup_file.name + ".anchor.json")


def backup(lab: Lab, path: str | Path) -> tuple[Path, Path]:
    """A consistent, verified copy taken while others may be writing (SQLite ``VACUUM INTO``
    checked with ``PRAGMA integrity_check``; PostgreSQL ``pg_dump`` custom format checked by
    ``pg_restore --list``), written to a temporary file beside ``path`` and given its name
    only when complete and verified (:mod:`exolab.services.safe_files`); and an audit anchor
    beside it (``FILE.anchor.json``), taken just before the copy so every anchored event is
    in it."""
    from exolab.services.anchor import chain_head, write_anchor

    target = Path(path).expanduser().absolute()
    if target.exists() and not target.is_symlink():  # (the file named is the one to name;
        # a symbolic link is refused as one when the copy is written)
        raise Conflict(f"{target} exists; choose a new file name")
    if anchor_path(target).exists() or anchor_path(target).is_symlink():
        raise Conflict(
            f"{anchor_path(target)} exists (an earlier backup's audit anchor); "
            "choose a new file name"
        )
    with lab.read() as tx:
        anchor = chain_head(tx)
    made = _backup(lab, target)
    return made, write_anchor(anchor, anchor_path(made))


def _backup(lab: Lab, target: Path) -> Path:
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


def _pg_dump(lab: Lab, out: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise ExolabError("pg_dump is not installed; install the PostgreSQL client tools")
    proc = subprocess.run(  # the password goes to pg_dump's environment only
        [pg_dump, "--format=custom", "--no-password", "--file", str(out)],
        capture_output=True,
        text=True,
        check=False,
        env=pg_environment(lab.db.engine.url),
    )
    if proc.returncode != 0:
        raise ExolabError(f"pg_dump failed: {proc.stderr.strip()}")


def pg_environment(url: URL) -> dict[str, str]:
    """libpq's environment for a server URL: the password never appears on a command line
    (where `ps` shows it to every account on the machine)."""
    env = dict(os.environ)
    parts: dict[str, str | int | None] = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    for key, value in parts.items():
        if value:
            env[key] = str(value)
    for key, option in url.query.items():  # sslmode=require and the like
        if key.startswith("ssl") or key in ("connect_timeout", "application_name"):
            env["PG" + key.upper()] = option if isinstance(option, str) else option[0]
    return env


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
