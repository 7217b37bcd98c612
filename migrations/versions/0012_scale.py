"""scale: indexes for the samples list's sort orders and a subject code without its study

The samples list pages by keyset (``WHERE (sort, id) > cursor ORDER BY sort, id LIMIT n``).
Sorted by biofluid, collection time, status or freeze-thaw count, a page of 1,000,000 tubes
without an index on (column, id) sorts the whole table: 3-5 s per page on SQLite, first page
and every next one. With these indexes each page is an index seek (docs/ui.md).

A subject's code scanned or typed alone (``P0001``, not ``STUDY/P0001``), and every id that
names nothing (the look-up tries subjects before runs and cell sources), read every subject:
the unique key is (study, code). ``ix_subjects_subject_code`` makes it one probe.

PostgreSQL only: an id typed in part (``LIKE 'S00500%'``) cannot use a column's b-tree index
under a collation other than C, so the list walked the whole id index in order (240 ms at a
million samples). A ``text_pattern_ops`` index per id column makes it an index range (0.5 ms).

Revision ID: 0012_scale
Revises: 0011_pg_fk
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_scale"
down_revision: str | None = "0011_pg_fk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_samples_biofluid_id": ("samples", ["biofluid", "id"]),
    "ix_samples_collected_at_id": ("samples", ["collected_at", "id"]),
    "ix_samples_status_id": ("samples", ["status", "id"]),
    "ix_samples_freeze_thaw_id": ("samples", ["freeze_thaw_count", "id"]),
    "ix_subjects_subject_code": ("subjects", ["subject_code"]),
}

PREFIX = {  # PostgreSQL only (models.py: _prefix_index)
    "ix_samples_sample_code_prefix": ("samples", "sample_code"),
    "ix_isolations_isolation_code_prefix": ("isolations", "isolation_code"),
    "ix_subjects_subject_code_prefix": ("subjects", "subject_code"),
    "ix_boxes_path_prefix": ("boxes", "path"),
    "ix_assay_runs_run_code_prefix": ("assay_runs", "run_code"),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)
    # the volume sort (``coalesce(volume_ml, -1.0)``: a tube without a volume first)
    op.create_index("ix_samples_volume_sort", "samples", [sa.text("coalesce(volume_ml, -1.0)"), "id"])
    if op.get_bind().dialect.name == "postgresql":
        for name, (table, column) in PREFIX.items():
            op.create_index(name, table, [column], postgresql_ops={column: "text_pattern_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, (table, _) in PREFIX.items():
            op.drop_index(name, table_name=table)
    op.drop_index("ix_samples_volume_sort", table_name="samples")
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
