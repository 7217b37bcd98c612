"""PostgreSQL: the references of samples, isolations, visits and isolation steps checked once
per statement

Migration 0011_pg_fk did this for ``readouts``. PostgreSQL checks a foreign key with one
trigger call per inserted row; ``samples`` has six NO ACTION foreign keys and ``isolations``
two, and a bulk import of 20,000 tubes spent half of its COPY in those calls; the visits and
the isolation steps it writes have one ON DELETE CASCADE key each. On PostgreSQL only, this
revision replaces those ten constraints by triggers that enforce the same rules set-based
(docs/reliability.md, "How references are kept on PostgreSQL"):

- after each INSERT (or COPY) statement on a referring table: one pass over the statement's
  new rows collects the distinct values of the reference columns, then one query per
  referenced table locks those rows ``FOR KEY SHARE`` (the lock the built-in check takes)
  and refuses the statement (SQLSTATE 23503, the constraint's name) if one is missing.
  ``samples.parent_id`` refers to samples itself: the trigger runs after the statement, so an
  aliquot inserted in the same statement as its parent tube finds it;
- after an UPDATE of a reference column (row by row, only when a reference changed): the
  same check for that row;
- after a DELETE statement on a referenced table: for a NO ACTION key, refused (23503) while
  rows still refer to a removed key (a statement that removes a tube and its aliquots
  together passes: they are gone when it is checked); for a CASCADE key (visits of a subject,
  steps of an isolation) the referring rows are deleted, in one statement;
- after an UPDATE of a referenced id (row by row) and a TRUNCATE: refused while rows still
  refer to a removed key (ON UPDATE is NO ACTION for all ten; a TRUNCATE never cascades);
- removing rows is allowed only in READ COMMITTED (the checks, and the cascade, must see what
  other transactions committed after the statement began), as in 0011.

The triggers of 0011 on samples, isolations and import_batches (exolab_fk_<table>_delete,
..., which check readouts) are left as they are; these are named
exolab_fk_<child>_refs_insert / _update on the referring table and
exolab_fk_<child>_<parent>_delete / _update / _truncate on the referenced one
(exolab/db/pg_fk.py knows both).

SQLite keeps its foreign keys: there this revision changes nothing. Downgrading restores the
real constraints (with their ON DELETE action), and refuses while rows refer to rows that do
not exist.

Revision ID: 0014_pg_fk_records
Revises: 0013_datetime_text
"""

from collections.abc import Sequence
from typing import NamedTuple

from alembic import op
from alembic.util import CommandError
from sqlalchemy import text

revision: str = "0014_pg_fk_records"
down_revision: str | None = "0013_datetime_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class Ref(NamedTuple):
    constraint: str
    child: str  # the referring table
    column: str  # its column
    parent: str  # the referenced table (key ``id``)
    word: str  # what the column names, in "a sample refers to box id 7"
    code: str  # the parent's column that names a row in a message
    cascade: bool = False  # ON DELETE CASCADE (else NO ACTION); ON UPDATE is NO ACTION


REFERENCES = (
    Ref("fk_samples_batch_id_import_batches", "samples", "batch_id", "import_batches", "import batch", "id"),
    Ref("fk_samples_box_id_boxes", "samples", "box_id", "boxes", "box", "path"),
    Ref("fk_samples_cell_source_id_cell_sources", "samples", "cell_source_id", "cell_sources", "cell source", "code"),
    Ref("fk_samples_parent_id_samples", "samples", "parent_id", "samples", "parent sample", "sample_code"),
    Ref("fk_samples_subject_id_subjects", "samples", "subject_id", "subjects", "subject", "subject_code"),
    Ref("fk_samples_visit_id_visits", "samples", "visit_id", "visits", "visit", "id"),
    Ref("fk_isolations_sample_id_samples", "isolations", "sample_id", "samples", "sample", "sample_code"),
    Ref("fk_isolations_batch_id_import_batches", "isolations", "batch_id", "import_batches", "import batch", "id"),
    Ref("fk_visits_subject_id_subjects", "visits", "subject_id", "subjects", "subject", "subject_code", cascade=True),
    Ref("fk_isolation_steps_isolation_id_isolations", "isolation_steps", "isolation_id", "isolations", "isolation", "isolation_code", cascade=True),
)  # fmt: skip
CHILDREN = ("samples", "isolations", "visits", "isolation_steps")
ONE = {"samples": "sample", "isolations": "isolation", "import_batches": "import batch",
       "boxes": "box", "cell_sources": "cell source", "subjects": "subject", "visits": "visit",
       "isolation_steps": "isolation step"}  # fmt: skip


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _refs(child: str) -> list[Ref]:
    return [r for r in REFERENCES if r.child == child]


def _plural(table: str) -> str:
    return table.replace("_", " ")


def _referrers(r: Ref) -> str:
    """Who still refers to a removed row, in a sentence."""
    return "aliquots" if r.column == "parent_id" else _plural(r.child)


def _function(name: str, declare: str, body: str, schema: str) -> str:
    """A trigger function run as the tables' owner with a fixed search_path. Its queries are
    planned as PostgreSQL chooses (custom plans for the keys at hand): a generic plan made
    while a referenced table was small kept scanning it whole, with the keys as an unhashed
    array, once it had grown (20,000 tubes: 0.5 s more)."""
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
        f'SECURITY DEFINER SET search_path = "{schema}", pg_temp AS $fn$ '
        f"{declare} BEGIN {body} RETURN NULL; END $fn$"
    )


def _missing(r: Ref, key: str) -> str:
    """RAISE for a row whose ``r.column`` value ``key`` names no row of ``r.parent``."""
    return (
        f"RAISE EXCEPTION '{_a(ONE[r.child])} refers to {r.word} id %, which does not exist', "
        f"{key} USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{r.constraint}', "
        f"TABLE = '{r.child}', COLUMN = '{r.column}', "
        f"DETAIL = format('Key ({r.column})=(%s) is not present in table \"{r.parent}\".', {key});"
    )


def _insert_check(child: str, schema: str) -> str:
    """After INSERT, per statement: one pass over the new rows collects the distinct values
    of the reference columns (hashed grouping sets); then per referenced column one index
    lookup of those keys locks the rows and counts them."""
    refs = _refs(child)
    cols = [r.column for r in refs]
    collect = (
        "SELECT "
        + ", ".join(f"array_agg(g.{c}) FILTER (WHERE g.in_{c} AND g.{c} IS NOT NULL)" for c in cols)
        + " INTO "
        + ", ".join(f"keys_{c}" for c in cols)
        + " FROM (SELECT "
        + ", ".join(cols)
        + ", "
        + ", ".join(f"GROUPING({c}) = 0 AS in_{c}" for c in cols)
        + " FROM new_rows GROUP BY GROUPING SETS ("
        + ", ".join(f"({c})" for c in cols)
        + ")) g;"
    )
    parts = [collect]
    for r in refs:
        c = r.column
        parts.append(
            f"IF keys_{c} IS NOT NULL THEN "
            f"SELECT count(*) INTO n_locked FROM (SELECT 1 FROM {r.parent} p "
            f"WHERE p.id = ANY(keys_{c}) FOR KEY SHARE OF p) locked; "
            f"IF n_locked < cardinality(keys_{c}) THEN "
            f"SELECT u INTO k FROM unnest(keys_{c}) u WHERE NOT EXISTS "
            f"(SELECT 1 FROM {r.parent} p WHERE p.id = u) LIMIT 1; "
            + _missing(r, "k")
            + " END IF; END IF;"
        )
    declare = "DECLARE n_locked bigint; k bigint; " + " ".join(f"keys_{c} int[];" for c in cols)
    return _function(f"exolab_fk_{child}_refs_insert", declare, " ".join(parts), schema)


def _update_check(child: str, schema: str) -> str:
    """After UPDATE of a reference column, per row (the trigger's WHEN skips other rows)."""
    parts = []
    for r in _refs(child):
        c = r.column
        parts.append(
            f"IF NEW.{c} IS NOT NULL AND NEW.{c} IS DISTINCT FROM OLD.{c} THEN "
            f"PERFORM 1 FROM {r.parent} p WHERE p.id = NEW.{c} FOR KEY SHARE OF p; "
            f"IF NOT FOUND THEN " + _missing(r, f"NEW.{c}") + " END IF; END IF;"
        )
    return _function(f"exolab_fk_{child}_refs_update", "", " ".join(parts), schema)


def _still_referenced(r: Ref, what: str, name: str) -> str:
    return (
        f"RAISE EXCEPTION 'cannot {what} {ONE[r.parent]} %: {_referrers(r)} still refer to it', "
        f"{name} USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{r.constraint}', "
        f"TABLE = '{r.child}';"
    )


def _parent_checks(r: Ref, schema: str) -> list[str]:
    """Functions for the referenced table: after DELETE (statement), UPDATE of id (row) and
    TRUNCATE (statement). The check runs after the statement: rows it removed from the
    referring table itself (a tube and its aliquots) no longer count."""
    name = f"exolab_fk_{r.child}_{r.parent}"
    guard = (
        "IF current_setting('transaction_isolation') <> 'read committed' THEN "
        f"RAISE EXCEPTION '{ONE[r.parent].capitalize()} records that {_plural(r.child)} may refer to can "
        "be removed only in a READ COMMITTED transaction' USING ERRCODE = "
        f"'object_not_in_prerequisite_state', HINT = '{r.child}'' references are checked by "
        "triggers on PostgreSQL (docs/reliability.md)'; END IF;"
    )
    if r.cascade:  # the referring rows go with the removed ones, in one statement
        on_delete = f"DELETE FROM {r.child} c USING old_rows o WHERE c.{r.column} = o.id;"
    else:
        on_delete = (
            f"SELECT o.{r.code}::text INTO k FROM old_rows o WHERE EXISTS "
            f"(SELECT 1 FROM {r.child} c WHERE c.{r.column} = o.id) LIMIT 1; "
            "IF FOUND THEN " + _still_referenced(r, "delete", "k") + " END IF;"
        )
    delete = _function(
        f"{name}_delete",
        "DECLARE k text;",
        f"IF NOT EXISTS (SELECT 1 FROM old_rows) THEN RETURN NULL; END IF; {guard} {on_delete}",
        schema,
    )
    update = _function(
        f"{name}_update",
        "",
        f"{guard} IF EXISTS (SELECT 1 FROM {r.child} c WHERE c.{r.column} = OLD.id) "
        f"AND NOT EXISTS (SELECT 1 FROM {r.parent} p WHERE p.id = OLD.id) THEN "
        + _still_referenced(r, "change the id of", f"OLD.{r.code}")
        + " END IF;",
        schema,
    )
    truncate = _function(
        f"{name}_truncate",
        "",
        f"{guard} IF EXISTS (SELECT 1 FROM {r.child} c WHERE c.{r.column} IS NOT NULL) THEN "
        f"RAISE EXCEPTION 'cannot empty {r.parent}: {_referrers(r)} still refer to it' "
        f"USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{r.constraint}', "
        f"TABLE = '{r.child}'; END IF;",
        schema,
    )
    return [delete, update, truncate]


def _triggers() -> list[str]:
    out = []
    for child in CHILDREN:
        cols = [r.column for r in _refs(child)]
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in cols)
        out += [
            f"CREATE TRIGGER exolab_fk_{child}_refs_insert AFTER INSERT ON {child} "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION exolab_fk_{child}_refs_insert()",
            f"CREATE TRIGGER exolab_fk_{child}_refs_update AFTER UPDATE OF {', '.join(cols)} "
            f"ON {child} FOR EACH ROW WHEN ({changed}) "
            f"EXECUTE FUNCTION exolab_fk_{child}_refs_update()",
        ]
    for r in REFERENCES:
        name = f"exolab_fk_{r.child}_{r.parent}"
        out += [
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON {r.parent} "
            f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {name}_delete()",
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF id ON {r.parent} "
            f"FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION {name}_update()",
            f"CREATE TRIGGER {name}_truncate AFTER TRUNCATE ON {r.parent} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}_truncate()",
        ]
    return out


def _trigger_tables() -> list[tuple[str, str]]:
    """(table, trigger) of every trigger made here; the functions have the same names."""
    out = []
    for child in CHILDREN:
        out += [(child, f"exolab_fk_{child}_refs_{what}") for what in ("insert", "update")]
    for r in REFERENCES:
        name = f"exolab_fk_{r.child}_{r.parent}"
        out += [(r.parent, f"{name}_{what}") for what in ("delete", "update", "truncate")]
    return out


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite keeps its foreign keys
    schema = bind.execute(text("SELECT current_schema()")).scalar_one()
    # The constraints held every existing row until now: nothing to check again.
    for r in REFERENCES:
        op.drop_constraint(r.constraint, r.child, type_="foreignkey")
    statements = [f(child, schema) for child in CHILDREN for f in (_insert_check, _update_check)]
    for r in REFERENCES:
        statements += _parent_checks(r, schema)
    for sql in statements:
        op.execute(sql)
    for _table, name in _trigger_tables():
        op.execute(f"REVOKE ALL ON FUNCTION {name}() FROM PUBLIC")
    for sql in _triggers():
        op.execute(sql)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    orphans = []
    for r in REFERENCES:
        n = bind.execute(
            text(
                f"SELECT count(*) FROM {r.child} c WHERE c.{r.column} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {r.parent} p WHERE p.id = c.{r.column})"
            )
        ).scalar_one()
        if n:
            orphans.append(f"{n:,} {_plural(r.child)} refer to {_a(r.word)} that does not exist")
    if orphans:
        raise CommandError(  # exolab db downgrade says it as a refusal (services/downgrade.py)
            "cannot restore the foreign keys of samples, isolations, visits and isolation steps: "
            + "; ".join(orphans)
            + ". Nothing was changed; run `exolab db check` to list them"
        )
    for table, name in _trigger_tables():
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    for r in REFERENCES:
        op.create_foreign_key(
            r.constraint,
            r.child,
            r.parent,
            [r.column],
            ["id"],
            ondelete="CASCADE" if r.cascade else None,
        )
