"""shipments: known by their sender and code

Two labs shipping on the same day made the same default code, and ``shipments.code`` was
unique, so a lab could not take in another lab's shipment whose code it had used itself. A
shipment now records ``origin``, the identity of the database that sent it
(``lab_identity.db_id``; '' when a manifest of an earlier version did not say), and is unique
by (origin, code) (docs/labels.md, "Shipments between sites").

Upgrading: the shipments this database sent get its own identity; those it received get ''
(their manifests did not name a sender). Downgrading: a received shipment whose code is also
another shipment's takes its sender's tag into its code (``CODE@TAG``, the first six
characters of the sender's identity) so that codes are unique again, then the column goes.

Revision ID: 0015_shipment_origin
Revises: 0014_pg_fk_records
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_shipment_origin"
down_revision: str | None = "0014_pg_fk_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=64), server_default="", nullable=False))
    op.execute(
        "UPDATE shipments SET origin = COALESCE("
        "(SELECT db_id FROM lab_identity WHERE id = 1), '') WHERE direction = 'out'"
    )
    with op.batch_alter_table("shipments") as batch:
        batch.drop_constraint(op.f("uq_shipments_code"), type_="unique")
        batch.create_unique_constraint(op.f("uq_shipments_origin_code"), ["origin", "code"])


def downgrade() -> None:
    op.execute(
        "UPDATE shipments SET code = SUBSTR(code, 1, 57) || '@' "
        "|| UPPER(SUBSTR(REPLACE(origin, '-', ''), 1, 6)) "
        "WHERE direction = 'in' AND code IN "
        "(SELECT code FROM (SELECT code FROM shipments GROUP BY code HAVING COUNT(*) > 1) AS d)"
    )
    with op.batch_alter_table("shipments") as batch:
        batch.drop_constraint(op.f("uq_shipments_origin_code"), type_="unique")
        batch.create_unique_constraint(op.f("uq_shipments_code"), ["code"])
        batch.drop_column("origin")
