"""trust: the login behind each audit event, and the database's identity and secret

``audit_events.login`` records who was authenticated (the operating-system account on SQLite,
the PostgreSQL login) when it differs from nobody: an admin acting for another user shows both
names. ``lab_identity`` holds one row: a random database id (written into audit anchors) and the
secret that keys export pseudonyms (docs/security.md). ``data_changes`` is where PostgreSQL
triggers (installed by ``exolab init``/``db upgrade``) note which login changed which table in
which transaction, so `exolab db check` finds changes made without an audit event.

Revision ID: 0009_trust
Revises: 0008_instruments
"""

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009_trust"
down_revision: str | None = "0008_instruments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login", sa.String(length=64), nullable=True))
    table = op.create_table(
        "lab_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("db_id", sa.String(length=36), nullable=False),
        sa.Column("pseudonym_secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("rotated_at", sa.String(length=32), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_lab_identity_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_identity")),
    )
    op.create_table(
        "data_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_changes")),
        sa.UniqueConstraint("txid", "table_name", "op", name=op.f("uq_data_changes_txid_table_name_op")),
    )
    op.bulk_insert(
        table,
        [
            {
                "id": 1,
                "db_id": str(uuid.uuid4()),
                "pseudonym_secret": secrets.token_hex(32),
                "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "rotated_at": None,
            }
        ],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # its triggers on every table go with it
        op.execute("DROP FUNCTION IF EXISTS exolab_log_change() CASCADE")
    op.drop_table("data_changes")
    op.drop_table("lab_identity")
    if op.get_bind().dialect.name == "sqlite":
        # batch mode copies the table: its append-only triggers go with it and come back after
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("login")
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END"
            )
