"""PostgreSQL: a readout's import batch indexed by block range (BRIN) instead of a b-tree

``readouts.batch_id`` is read only to find one batch's readouts (undo, its edited readouts,
the replicate sets it touched, and the reference check when a batch row is removed), and a
batch's readouts are inserted together, by one import, with batch ids that grow: they lie in a
run of consecutive table pages. A BRIN index keeps, per range of 128 pages, the smallest and
largest batch id, which is enough to find that run; it is a few pages in all, and the insert
of a readout only looks up its range map, where the b-tree took an entry per readout: ~0.07 s
of the server's CPU instead of ~0.12 s per 200,000 imported readouts (benchmarks/README.md).
``autosummarize`` summarizes each range as soon as it is full, so the ranges of a recent batch
are summarized without waiting for a VACUUM (an unsummarized range is always read).

Undo of a batch of 200,000 among 1,000,000 readouts: docs/bulk-imports.md ("Readouts into
PostgreSQL") has the before/after figures.

SQLite keeps its b-tree (it has no BRIN): there this revision changes nothing. The models name
the two indexes, each ``only_on`` its database (exolab/db/models.py).

Revision ID: 0013_pgro
Revises: 0012_scale
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_pgro"
down_revision: str | None = "0012_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_readouts_batch_id", table_name="readouts")
    op.create_index(
        "ix_readouts_batch_id_brin",
        "readouts",
        ["batch_id"],
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_readouts_batch_id_brin", table_name="readouts")
    op.create_index("ix_readouts_batch_id", "readouts", ["batch_id"])
