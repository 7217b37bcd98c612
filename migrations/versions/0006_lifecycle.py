"""samples.volume_taken_ml: the volume isolations and aliquots took out of a tube

A tube's ``volume_ml`` is what is left; ``volume_taken_ml`` is what its isolations and
aliquots took, so that the volume the tube was registered with (the import column
``volume_ml``) is ``volume_ml + volume_taken_ml``: an export re-imports to the same state and
re-importing a samples file after its isolations is a no-op (docs/lifecycle.md).

Revision ID: 0006_lifecycle
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_lifecycle"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.add_column(
            sa.Column("volume_taken_ml", sa.Float(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.drop_column("volume_taken_ml")
