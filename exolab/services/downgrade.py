"""Safe schema downgrades (docs/reliability.md): say what would be lost, back up before.

A downgrade is first rehearsed inside a transaction that is rolled back (DDL is transactional
on SQLite and PostgreSQL): the tables and columns it drops, with their row counts, are what
would be lost. A downgrade that loses no rows runs at once; one that does is refused unless
forced, and a forced one runs only after a verified backup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, inspect, text

from exolab.db import migrate
from exolab.services.context import Lab
from exolab.services.errors import Conflict

# Bookkeeping of the migration tool itself, not lab data.
_NOT_DATA = frozenset({"alembic_version"})


@dataclass
class Loss:
    table: str
    rows: int
    columns: list[str] = field(default_factory=list)  # empty: the whole table is dropped

    def describe(self) -> str:
        if self.columns:
            return f"columns {', '.join(self.columns)} of {self.table} ({self.rows:,} rows)"
        return f"table {self.table} ({self.rows:,} rows)"


@dataclass
class DowngradePlan:
    current: str | None
    target: str
    losses: list[Loss]

    @property
    def rows_lost(self) -> int:
        return sum(loss.rows for loss in self.losses)

    def describe(self) -> str:
        if not self.losses:
            return "no table or column with data is dropped"
        return "drops " + "; ".join(loss.describe() for loss in self.losses)


def _count(conn: Connection, table: str) -> int:
    q = conn.dialect.identifier_preparer.quote(table)
    return int(conn.execute(text(f"SELECT count(*) FROM {q}")).scalar() or 0)


def _columns(conn: Connection) -> dict[str, set[str]]:
    insp = inspect(conn)
    return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}


def _non_null(conn: Connection, table: str, columns: list[str]) -> int:
    prep = conn.dialect.identifier_preparer
    cond = " OR ".join(f"{prep.quote(c)} IS NOT NULL" for c in columns)
    return int(
        conn.execute(text(f"SELECT count(*) FROM {prep.quote(table)} WHERE {cond}")).scalar() or 0
    )


def plan_downgrade(lab: Lab, target: str) -> DowngradePlan:
    """Rehearse the downgrade in a rolled-back transaction; what it would drop, with rows."""
    from alembic import command
    from alembic.util import CommandError

    engine = lab.db.write_engine
    current = migrate.current_revision(engine)
    losses: list[Loss] = []
    with migrate.migration_connection(engine) as conn:
        trans = conn.begin()
        try:
            before = _columns(conn)
            cfg = migrate.alembic_config(engine)
            cfg.attributes["connection"] = conn
            try:
                command.downgrade(cfg, target)
            except CommandError as exc:  # a migration refusing (e.g. 0011_pg_fk's orphans)
                raise Conflict(f"cannot downgrade the schema to {target}: {exc}") from None
            after = _columns(conn)
        finally:
            trans.rollback()
        for table in sorted(before):
            if table in _NOT_DATA:
                continue
            if table not in after:
                n = _count(conn, table)
                if n:
                    losses.append(Loss(table, n))
                continue
            gone = sorted(before[table] - after[table])
            if gone:
                n = _non_null(conn, table, gone)
                if n:
                    losses.append(Loss(table, n, gone))
    return DowngradePlan(current, target, losses)


def default_backup_path(lab: Lab) -> Path:
    """Beside a SQLite database file; in the user's data directory for PostgreSQL."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    url = lab.db.engine.url
    if lab.db.dialect == "sqlite" and url.database:
        db = Path(url.database)
        return db.with_name(f"{db.stem}.before-downgrade-{stamp}{db.suffix or '.db'}")
    from exolab.settings import default_data_dir

    return default_data_dir() / "backups" / f"{url.database}.before-downgrade-{stamp}.dump"


@dataclass
class DowngradeResult:
    plan: DowngradePlan
    backup: Path | None
    revision: str | None


def downgrade(
    lab: Lab, target: str, *, force: bool = False, backup_to: str | Path | None = None
) -> DowngradeResult:
    """Downgrade the schema to ``target``. Refused (:class:`Conflict`) when rows would be
    lost, unless ``force``; then a verified backup is written first."""
    from exolab.services.integrity import backup

    plan = plan_downgrade(lab, target)
    saved: Path | None = None
    if plan.losses:
        if not force:
            raise Conflict(
                f"downgrading the schema from {plan.current or 'base'} to {target} would "
                f"delete {plan.rows_lost:,} rows: {plan.describe()}. Nothing was changed; "
                "rerun with --force to downgrade after an automatic backup"
            )
        saved, _anchor = backup(lab, backup_to or default_backup_path(lab))
    migrate.downgrade(lab.db.write_engine, target)
    return DowngradeResult(plan, saved, migrate.current_revision(lab.db.engine))
