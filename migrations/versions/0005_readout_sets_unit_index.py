"""readout_sets: index on (analyte_id, unit)

A cohort summary or method comparison first asks which units an analyte's results were
recorded in, and whether some replicate set was split over two convertible units (ng/mL and
pg/mL in one run); both read every set of the analyte without this index (~90 ms of a one
second budget at 10 million readouts) and a few index entries with it.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_readout_sets_analyte_unit", "readout_sets", ["analyte_id", "unit"])


def downgrade() -> None:
    op.drop_index("ix_readout_sets_analyte_unit", table_name="readout_sets")
