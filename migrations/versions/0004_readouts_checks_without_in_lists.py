"""readouts: value-list CHECKs as equality chains (SQLite import speed)

SQLite evaluates ``col IN ('a', 'b', ...)`` inside a CHECK constraint by building an ephemeral
lookup table for every row inserted. On readouts, the bulk table, the comparator, censor and qc
checks written that way cost more per imported row than all of the table's indexes together.
The same rules written as ``col = 'a' OR col = 'b' ...`` cost next to nothing. PostgreSQL
gets the same definitions so that both databases carry one schema.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPARATORS = ("=", "<", "<=", ">", ">=")
CENSORS = ("none", "lt_lod", "lt_lloq", "gt_uloq", "not_detected")
QC = ("pass", "fail", "pending")


def _chain(column: str, values: tuple[str, ...]) -> str:
    return " OR ".join(f"{column} = '{v}'" for v in values)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


NEW = {
    "comparator": _chain("comparator", COMPARATORS),
    "censor": _chain("censor", CENSORS),
    "qc": "qc IS NULL OR " + _chain("qc", QC),
}
OLD = {
    "comparator": _in("comparator", COMPARATORS),
    "censor": _in("censor", CENSORS),
    "qc": "qc IS NULL OR " + _in("qc", QC),
}


def _replace(checks: dict[str, str]) -> None:
    with op.batch_alter_table("readouts", recreate="always") as batch:
        for name, expr in checks.items():
            batch.drop_constraint(op.f(f"ck_readouts_{name}"), type_="check")
            batch.create_check_constraint(op.f(f"ck_readouts_{name}"), expr)


def upgrade() -> None:
    _replace(NEW)


def downgrade() -> None:
    _replace(OLD)
