"""readout_sets: replicate-set summary table for cohort queries; drop the covering index

Cohort summaries and method comparison read one row per replicate set (sample x isolation x
analyte x assay x run x unit) from ``readout_sets`` instead of aggregating every readout of
an analyte. The table is created and filled from the existing readouts here; afterwards every
write path of readouts keeps it current (exolab.services.readout_sets). The covering index
ix_readouts_analyte_cohort (0002) only served that aggregation, so it goes: imports maintain
one index fewer.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same aggregation as exolab.services.readout_sets.AGGREGATE_SQL (a migration must not
# change when the code does, so it is spelled out here).
BACKFILL = (
    "INSERT INTO readout_sets (analyte_id, sample_id, isolation_id, assay, run_code, unit, "
    "n, n_censored, total, censor_limit, first_readout_id) "
    "SELECT r.analyte_id, r.sample_id, r.isolation_id, r.assay, r.run_code, r.unit, "
    "SUM(CASE WHEN r.censor = 'none' AND r.value IS NOT NULL THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN r.censor <> 'none' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN r.censor = 'none' THEN r.value END), "
    "MAX(CASE WHEN r.censor <> 'none' THEN r.value END), "
    "MIN(r.id) "
    "FROM readouts r WHERE r.unit IS NOT NULL "
    "GROUP BY r.analyte_id, r.sample_id, r.isolation_id, r.assay, r.run_code, r.unit"
)
COHORT_COLUMNS = [
    "analyte_id",
    "sample_id",
    "isolation_id",
    "assay",
    "run_code",
    "unit",
    "censor",
    "value",
]


def upgrade() -> None:
    op.create_table(
        "readout_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analyte_id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("isolation_id", sa.Integer(), nullable=True),
        sa.Column("assay", sa.String(length=32), nullable=False),
        sa.Column("run_code", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("n_censored", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=True),
        sa.Column("censor_limit", sa.Float(), nullable=True),
        sa.Column("first_readout_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readout_sets")),
    )
    # Filled in (analyte, sample) order, then indexed: one sorted pass, no index churn.
    op.execute(BACKFILL)
    op.create_index("ix_readout_sets_analyte_sample", "readout_sets", ["analyte_id", "sample_id"])
    op.drop_index("ix_readouts_analyte_cohort", table_name="readouts")


def downgrade() -> None:
    op.create_index("ix_readouts_analyte_cohort", "readouts", COHORT_COLUMNS, unique=False)
    op.drop_index("ix_readout_sets_analyte_sample", table_name="readout_sets")
    op.drop_table("readout_sets")
