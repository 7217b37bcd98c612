"""PostgreSQL: some references are kept by triggers, not by foreign-key constraints.

Migration 0011_pg_fk replaced the four foreign-key constraints of ``readouts`` on PostgreSQL
by set-based statement triggers enforcing the same rules, and 0014_pg_fk_records the six
NO ACTION keys of ``samples``, the two of ``isolations`` and the ON DELETE CASCADE keys of
``visits`` and ``isolation_steps`` (docs/reliability.md, "How
references are kept on PostgreSQL"); SQLite keeps the constraints. The ORM models keep their
``ForeignKey`` declarations, which are true of the data on both databases: this module says
which constraints PostgreSQL enforces by triggers, so the model-versus-database comparison
(migrations/env.py), ``exolab db check`` and the downgrade know the exception, and checks it
is really in place rather than taking it on trust.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, text


class TriggerKey(NamedTuple):
    constraint: str
    child: str  # the referring table
    column: str  # its column
    parent: str  # the referenced table (its key is ``id``)
    word: str  # what the column names, in a sentence


TRIGGER_KEYS = (
    # 0011_pg_fk
    TriggerKey("fk_readouts_sample_id_samples", "readouts", "sample_id", "samples", "sample"),
    TriggerKey("fk_readouts_isolation_id_isolations", "readouts", "isolation_id", "isolations", "isolation"),
    TriggerKey("fk_readouts_analyte_id_analytes", "readouts", "analyte_id", "analytes", "analyte"),
    TriggerKey("fk_readouts_batch_id_import_batches", "readouts", "batch_id", "import_batches", "import batch"),
    # 0014_pg_fk_records
    TriggerKey("fk_samples_batch_id_import_batches", "samples", "batch_id", "import_batches", "import batch"),
    TriggerKey("fk_samples_box_id_boxes", "samples", "box_id", "boxes", "box"),
    TriggerKey("fk_samples_cell_source_id_cell_sources", "samples", "cell_source_id", "cell_sources", "cell source"),
    TriggerKey("fk_samples_parent_id_samples", "samples", "parent_id", "samples", "parent sample"),
    TriggerKey("fk_samples_subject_id_subjects", "samples", "subject_id", "subjects", "subject"),
    TriggerKey("fk_samples_visit_id_visits", "samples", "visit_id", "visits", "visit"),
    TriggerKey("fk_isolations_sample_id_samples", "isolations", "sample_id", "samples", "sample"),
    TriggerKey("fk_isolations_batch_id_import_batches", "isolations", "batch_id", "import_batches", "import batch"),
    # 0014_pg_fk_records, ON DELETE CASCADE: the triggers delete the referring rows
    TriggerKey("fk_visits_subject_id_subjects", "visits", "subject_id", "subjects", "subject"),
    TriggerKey("fk_isolation_steps_isolation_id_isolations", "isolation_steps", "isolation_id", "isolations", "isolation"),
)  # fmt: skip
BY_CONSTRAINT = {k.constraint: k for k in TRIGGER_KEYS}
CHILDREN = tuple(dict.fromkeys(k.child for k in TRIGGER_KEYS))  # readouts, samples, ...


def required_triggers(key: TriggerKey) -> set[tuple[str, str]]:
    """(table, trigger) pairs that together enforce ``key``. 0011 named the readouts' ones
    after the referenced table alone; 0014 names them after both tables (the names of 0011
    were taken on samples, isolations and import_batches)."""
    if key.child == "readouts":
        return {
            ("readouts", "exolab_fk_readouts_insert"),
            ("readouts", "exolab_fk_readouts_update"),
            (key.parent, f"exolab_fk_{key.parent}_delete"),
            (key.parent, f"exolab_fk_{key.parent}_update"),
            (key.parent, f"exolab_fk_{key.parent}_truncate"),
        }
    both = f"exolab_fk_{key.child}_{key.parent}"
    return {
        (key.child, f"exolab_fk_{key.child}_refs_insert"),
        (key.child, f"exolab_fk_{key.child}_refs_update"),
        (key.parent, f"{both}_delete"),
        (key.parent, f"{both}_update"),
        (key.parent, f"{both}_truncate"),
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
    """Names of the foreign keys that triggers enforce in this database (those of readouts
    after 0011_pg_fk, and of samples, isolations, visits and isolation_steps after
    0014_pg_fk_records, on PostgreSQL; none on SQLite or when one of a key's triggers is missing or disabled)."""
    present = enabled_triggers(conn)
    return {k.constraint for k in TRIGGER_KEYS if required_triggers(k) <= present}


def orphans_sql(key: TriggerKey) -> str:
    """Count of ``key.child`` rows referring to a row of ``key.parent`` that does not exist."""
    return (
        f"SELECT count(*) FROM {key.child} c WHERE c.{key.column} IS NOT NULL AND NOT "
        f"EXISTS (SELECT 1 FROM {key.parent} p WHERE p.id = c.{key.column})"
    )


def problems(conn: Connection) -> list[str]:
    """For ``exolab db check`` on PostgreSQL: a missing or disabled trigger, and rows that
    refer to rows that do not exist (found set-based, one query per reference)."""
    if conn.dialect.name != "postgresql":
        return []
    constraints = {
        r[0]
        for r in conn.execute(
            text(
                "SELECT k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE k.contype = 'f' "
                "AND n.nspname = current_schema() AND c.relname = ANY(:tables)"
            ),
            {"tables": list(CHILDREN)},
        )
    }
    enforced = enforced_by_triggers(conn)
    out: list[str] = []
    for key in TRIGGER_KEYS:
        if key.constraint not in constraints and key.constraint not in enforced:
            out.append(
                f"{key.child}' references to {key.parent} are not enforced: a trigger is missing "
                "or disabled (docs/reliability.md)"
            )
        n = conn.execute(text(orphans_sql(key))).scalar_one()
        if n:
            article = "an" if key.word[0] in "aeiou" else "a"
            rows = key.child.replace("_", " ")
            out.append(f"{n:,} {rows} refer to {article} {key.word} that does not exist")
    return out
