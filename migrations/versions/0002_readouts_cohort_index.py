"""readouts: covering index for cohort summaries and method comparison

One analyte across the cohort is read as replicate sets (sample, isolation, assay, run, unit)
with their censor flags and values. This index holds exactly those columns in that order, so
the replicate aggregation is an index-only scan in group order (no table lookups, no sort).
It replaces ix_readouts_analyte_sample, whose columns are its prefix, so imports maintain
the same number of indexes.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["analyte_id", "sample_id", "isolation_id", "assay", "run_code", "unit", "censor", "value"]


def upgrade() -> None:
    op.create_index("ix_readouts_analyte_cohort", "readouts", COLUMNS, unique=False)
    op.drop_index("ix_readouts_analyte_sample", table_name="readouts")


def downgrade() -> None:
    op.create_index(
        "ix_readouts_analyte_sample", "readouts", ["analyte_id", "sample_id"], unique=False
    )
    op.drop_index("ix_readouts_analyte_cohort", table_name="readouts")
