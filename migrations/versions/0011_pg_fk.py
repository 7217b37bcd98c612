"""PostgreSQL: readouts' references checked once per statement instead of once per row

PostgreSQL checks a foreign key with one trigger call per inserted row; ``readouts`` has
four, and a bulk import spent three quarters of its time in them (benchmarks/README.md).
On PostgreSQL only, this revision replaces the four foreign-key constraints of ``readouts``
(sample_id -> samples, isolation_id -> isolations, analyte_id -> analytes, batch_id ->
import_batches) by triggers that enforce the same rules set-based (docs/reliability.md,
"How references are kept on PostgreSQL"):

- after each INSERT statement on readouts: one pass over the statement's new rows collects
  the distinct values of the four columns, then one query per referenced table locks those
  rows ``FOR KEY SHARE`` (as the built-in check does, so a concurrent delete waits, or
  fails) and refuses the statement (SQLSTATE 23503, the constraint's name) if one is missing;
- after an UPDATE of a reference column of a readout (row by row, only when a reference
  changed): the same check for that row;
- after a DELETE statement (and a TRUNCATE) on a referenced table, and after an UPDATE of its
  id: refused (23503) while readouts still refer to a removed key. The constraints were
  NO ACTION, so nothing cascades. These checks read rows other transactions committed after
  the statement began only in READ COMMITTED; a REPEATABLE READ or SERIALIZABLE
  transaction is therefore refused such deletes (exolab itself runs READ COMMITTED).

SQLite keeps its foreign keys: there this revision changes nothing. Downgrading restores the
real constraints, and refuses while readouts refer to rows that do not exist.

Revision ID: 0011_pg_fk
Revises: 0009_trust
"""

from collections.abc import Sequence

from alembic import op
from alembic.util import CommandError
from sqlalchemy import text

revision: str = "0011_pg_fk"
down_revision: str | None = "0009_trust"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# constraint name, readouts column, referenced table, the word for one of its rows, and the
# column that names a row in a message (its code; import batches have only their number)
REFERENCES = (
    ("fk_readouts_sample_id_samples", "sample_id", "samples", "sample", "sample_code"),
    ("fk_readouts_isolation_id_isolations", "isolation_id", "isolations", "isolation", "isolation_code"),
    ("fk_readouts_analyte_id_analytes", "analyte_id", "analytes", "analyte", "code"),
    ("fk_readouts_batch_id_import_batches", "batch_id", "import_batches", "import batch", "id"),
)  # fmt: skip

_REPEATABLE = (
    "IF current_setting('transaction_isolation') <> 'read committed' THEN "
    "RAISE EXCEPTION '{word} records that readouts may refer to can be removed only in a "
    "READ COMMITTED transaction' USING ERRCODE = 'object_not_in_prerequisite_state', "
    "HINT = 'readouts'' references are checked by triggers on PostgreSQL "
    "(docs/reliability.md)'; END IF;"
)


def _function(name: str, declare: str, body: str, schema: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
        f'SECURITY DEFINER SET search_path = "{schema}", pg_temp AS $fn$ '
        f"{declare} BEGIN {body} RETURN NULL; END $fn$"
    )


def _missing(con: str, col: str, parent: str, word: str, key: str) -> str:
    """RAISE for a readout whose ``col`` value ``key`` names no row of ``parent``."""
    return (
        f"RAISE EXCEPTION 'a readout refers to {word} id %, which does not exist', {key} "
        f"USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{con}', "
        f"TABLE = 'readouts', COLUMN = '{col}', "
        f"DETAIL = format('Key ({col})=(%s) is not present in table \"{parent}\".', {key});"
    )


def _insert_check(schema: str) -> str:
    """After INSERT, per statement: one pass over the new rows collects the distinct values
    of the four reference columns (hashed grouping sets); then per referenced table one
    index lookup of those keys locks the rows and counts them."""
    cols = [r[1] for r in REFERENCES]
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
    for con, col, parent, word, _code in REFERENCES:
        parts.append(
            f"IF keys_{col} IS NOT NULL THEN "
            f"SELECT count(*) INTO n_locked FROM (SELECT 1 FROM {parent} p "
            f"WHERE p.id = ANY(keys_{col}) FOR KEY SHARE OF p) locked; "
            f"IF n_locked < cardinality(keys_{col}) THEN "
            f"SELECT u INTO k FROM unnest(keys_{col}) u WHERE NOT EXISTS "
            f"(SELECT 1 FROM {parent} p WHERE p.id = u) LIMIT 1; "
            + _missing(con, col, parent, word, "k")
            + " END IF; END IF;"
        )
    declare = "DECLARE n_locked bigint; k bigint; " + " ".join(f"keys_{c} int[];" for c in cols)
    return _function("exolab_fk_readouts_insert", declare, " ".join(parts), schema)


def _update_check(schema: str) -> str:
    """After UPDATE of a reference column, per row (the trigger's WHEN skips other rows)."""
    parts = []
    for con, col, parent, word, _code in REFERENCES:
        parts.append(
            f"IF NEW.{col} IS NOT NULL AND NEW.{col} IS DISTINCT FROM OLD.{col} THEN "
            f"PERFORM 1 FROM {parent} p WHERE p.id = NEW.{col} FOR KEY SHARE OF p; "
            f"IF NOT FOUND THEN " + _missing(con, col, parent, word, f"NEW.{col}") + " END IF; "
            "END IF;"
        )
    return _function("exolab_fk_readouts_update", "", " ".join(parts), schema)


def _still_referenced(con: str, word: str, what: str, name: str) -> str:
    return (
        f"RAISE EXCEPTION 'cannot {what} {word} %: readouts still refer to it', {name} "
        f"USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{con}', TABLE = 'readouts';"
    )


def _parent_checks(schema: str, con: str, col: str, parent: str, word: str, code: str) -> list[str]:
    """Functions for the referenced table: after DELETE (statement), UPDATE of id (row) and
    TRUNCATE (statement)."""
    guard = _REPEATABLE.format(word=word.capitalize())
    delete = _function(
        f"exolab_fk_{parent}_delete",
        "DECLARE k text;",
        f"IF NOT EXISTS (SELECT 1 FROM old_rows) THEN RETURN NULL; END IF; {guard} "
        f"SELECT o.{code}::text INTO k FROM old_rows o WHERE EXISTS "
        f"(SELECT 1 FROM readouts r WHERE r.{col} = o.id) LIMIT 1; "
        f"IF FOUND THEN " + _still_referenced(con, word, "delete", "k") + " END IF;",
        schema,
    )
    update = _function(
        f"exolab_fk_{parent}_update",
        "",
        f"{guard} IF EXISTS (SELECT 1 FROM readouts r WHERE r.{col} = OLD.id) "
        f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = OLD.id) THEN "
        + _still_referenced(con, word, "change the id of", f"OLD.{code}")
        + " END IF;",
        schema,
    )
    truncate = _function(
        f"exolab_fk_{parent}_truncate",
        "",
        f"{guard} IF EXISTS (SELECT 1 FROM readouts r WHERE r.{col} IS NOT NULL) THEN "
        f"RAISE EXCEPTION 'cannot empty {parent}: readouts still refer to it' "
        f"USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{con}', TABLE = 'readouts'; "
        "END IF;",
        schema,
    )
    return [delete, update, truncate]


def _triggers() -> list[str]:
    cols = ", ".join(r[1] for r in REFERENCES)
    changed = " OR ".join(f"OLD.{r[1]} IS DISTINCT FROM NEW.{r[1]}" for r in REFERENCES)
    out = [
        "CREATE TRIGGER exolab_fk_readouts_insert AFTER INSERT ON readouts "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION exolab_fk_readouts_insert()",
        f"CREATE TRIGGER exolab_fk_readouts_update AFTER UPDATE OF {cols} ON readouts "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION exolab_fk_readouts_update()",
    ]
    for _con, _col, parent, _word, _code in REFERENCES:
        out += [
            f"CREATE TRIGGER exolab_fk_{parent}_delete AFTER DELETE ON {parent} "
            f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION exolab_fk_{parent}_delete()",
            f"CREATE TRIGGER exolab_fk_{parent}_update AFTER UPDATE OF id ON {parent} "
            f"FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) "
            f"EXECUTE FUNCTION exolab_fk_{parent}_update()",
            f"CREATE TRIGGER exolab_fk_{parent}_truncate AFTER TRUNCATE ON {parent} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION exolab_fk_{parent}_truncate()",
        ]
    return out


def _functions() -> list[str]:
    names = ["exolab_fk_readouts_insert", "exolab_fk_readouts_update"]
    for _con, _col, parent, _word, _code in REFERENCES:
        names += [f"exolab_fk_{parent}_{what}" for what in ("delete", "update", "truncate")]
    return names


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite keeps its foreign keys
    schema = bind.execute(text("SELECT current_schema()")).scalar_one()
    # Existing rows are checked once, set-based, while the constraints still hold them.
    for con, _col, _parent, _word, _code in REFERENCES:
        op.drop_constraint(con, "readouts", type_="foreignkey")
    statements = [_insert_check(schema), _update_check(schema)]
    for con, col, parent, word, code in REFERENCES:
        statements += _parent_checks(schema, con, col, parent, word, code)
    for sql in statements:
        op.execute(sql)
    for name in _functions():
        op.execute(f"REVOKE ALL ON FUNCTION {name}() FROM PUBLIC")
    for sql in _triggers():
        op.execute(sql)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    orphans = []
    for _con, col, parent, word, _code in REFERENCES:
        n = bind.execute(
            text(
                f"SELECT count(*) FROM readouts r WHERE r.{col} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {parent} p WHERE p.id = r.{col})"
            )
        ).scalar_one()
        if n:
            orphans.append(f"{n:,} readouts refer to a {word} that does not exist")
    if orphans:
        raise CommandError(  # exolab db downgrade says it as a refusal (services/downgrade.py)
            "cannot restore the foreign keys of readouts: "
            + "; ".join(orphans)
            + ". Nothing was changed; run `exolab db check` to list them"
        )
    for _con, _col, parent, _word, _code in REFERENCES:
        for what in ("delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS exolab_fk_{parent}_{what} ON {parent}")
    for what in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS exolab_fk_readouts_{what} ON readouts")
    for name in _functions():
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    for con, col, parent, _word, _code in REFERENCES:
        op.create_foreign_key(con, "readouts", parent, [col], ["id"])
