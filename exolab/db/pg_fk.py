"""PostgreSQL: the references of ``readouts`` are kept by triggers, not by constraints.

Migration 0011_pg_fk replaced the four foreign-key constraints of ``readouts`` on PostgreSQL
by set-based statement triggers enforcing the same rules (docs/reliability.md, "How
references are kept on PostgreSQL"); SQLite keeps the constraints. The ORM models keep their
``ForeignKey`` declarations, which are true of the data on both databases: this module says
which constraints PostgreSQL enforces by triggers, so the model-versus-database comparison
(migrations/env.py) and ``exolab db check`` know the exception, and checks it is really
in place rather than taking it on trust.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, text


class TriggerKey(NamedTuple):
    constraint: str
    column: str  # in readouts
    parent: str  # the referenced table (its key is ``id``)
    word: str  # one of its rows, in a sentence


TRIGGER_KEYS = (
    TriggerKey("fk_readouts_sample_id_samples", "sample_id", "samples", "sample"),
    TriggerKey("fk_readouts_isolation_id_isolations", "isolation_id", "isolations", "isolation"),
    TriggerKey("fk_readouts_analyte_id_analytes", "analyte_id", "analytes", "analyte"),
    TriggerKey("fk_readouts_batch_id_import_batches", "batch_id", "import_batches", "import batch"),
)
BY_CONSTRAINT = {k.constraint: k for k in TRIGGER_KEYS}


def required_triggers(key: TriggerKey) -> set[tuple[str, str]]:
    """(table, trigger) pairs that together enforce ``key``."""
    return {
        ("readouts", "exolab_fk_readouts_insert"),
        ("readouts", "exolab_fk_readouts_update"),
        (key.parent, f"exolab_fk_{key.parent}_delete"),
        (key.parent, f"exolab_fk_{key.parent}_update"),
        (key.parent, f"exolab_fk_{key.parent}_truncate"),
    }


def enabled_triggers(conn: Connection) -> set[tuple[str, str]]:
    """(table, trigger) of the enabled exolab_fk_* triggers of the current schema."""
    if conn.dialect.name != "postgresql":
        return set()
    rows = conn.execute(
        text(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND t.tgname LIKE 'exolab\\_fk\\_%' AND t.tgenabled <> 'D'"
        )
    )
    return {(r[0], r[1]) for r in rows}


def enforced_by_triggers(conn: Connection) -> set[str]:
    """Names of the readouts foreign keys that triggers enforce in this database (all four
    after 0011_pg_fk on PostgreSQL; none on SQLite or when a trigger is missing or disabled)."""
    present = enabled_triggers(conn)
    return {k.constraint for k in TRIGGER_KEYS if required_triggers(k) <= present}


def problems(conn: Connection) -> list[str]:
    """For ``exolab db check`` on PostgreSQL: a missing or disabled trigger, and readouts that
    refer to rows that do not exist (found set-based, one query per reference)."""
    if conn.dialect.name != "postgresql":
        return []
    constraints = {
        r[0]
        for r in conn.execute(
            text(
                "SELECT conname FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid = 'readouts'::regclass"
            )
        )
    }
    enforced = enforced_by_triggers(conn)
    out: list[str] = []
    for key in TRIGGER_KEYS:
        if key.constraint not in constraints and key.constraint not in enforced:
            out.append(
                f"readouts' references to {key.parent} are not enforced: a trigger is missing "
                "or disabled (docs/reliability.md)"
            )
        n = conn.execute(
            text(
                f"SELECT count(*) FROM readouts r WHERE r.{key.column} IS NOT NULL AND NOT "
                f"EXISTS (SELECT 1 FROM {key.parent} p WHERE p.id = r.{key.column})"
            )
        ).scalar_one()
        if n:
            out.append(f"{n:,} readouts refer to a {key.word} that does not exist")
    return out
