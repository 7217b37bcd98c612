"""scale: indexes for the samples list's sort orders

The samples list pages by keyset (``WHERE (sort, id) > cursor ORDER BY sort, id LIMIT n``).
Sorted by biofluid, collection time, status or freeze-thaw count, a page of 1,000,000 tubes
without an index on (column, id) sorts the whole table: 3-5 s per page on SQLite, first page
and every next one. With these indexes each page is an index seek (docs/ui.md).

Revision ID: 0012_scale
Revises: 0009_trust
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_scale"
down_revision: str | None = "0009_trust"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_samples_biofluid_id": ["biofluid", "id"],
    "ix_samples_collected_at_id": ["collected_at", "id"],
    "ix_samples_status_id": ["status", "id"],
    "ix_samples_freeze_thaw_id": ["freeze_thaw_count", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "samples", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="samples")
