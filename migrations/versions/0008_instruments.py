"""instrument runs: the file an assay run was read from, and readouts' well and dilution

An instrument export (NTA, qPCR, digital PCR, plate reader) becomes one ``instrument_runs``
row beside its ``assay_runs`` row: the file's name, size, sha256 and bytes (so a backup holds
the original), the parser that read it, the instrument, operator, run date-time as written,
settings, standard curve and controls. Readouts gain the well (or NTA video) they came from
and the dilution factor of the measurement (docs/instruments.md).

Revision ID: 0008_instruments
Revises: 0010_labels
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_instruments"
down_revision: str | None = "0010_labels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instrument_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assay_run_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=512), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("parser", sa.String(length=32), nullable=False),
        sa.Column("parser_version", sa.String(length=16), nullable=False),
        sa.Column("instrument_model", sa.String(length=128), nullable=True),
        sa.Column("instrument_serial", sa.String(length=128), nullable=True),
        sa.Column("software_version", sa.String(length=128), nullable=True),
        sa.Column("operator", sa.String(length=128), nullable=True),
        sa.Column("run_at_text", sa.String(length=64), nullable=True),
        sa.Column("run_at", sa.DateTime(), nullable=True),
        sa.Column("run_tz", sa.String(length=16), nullable=True),
        sa.Column("dilution_factor", sa.Float(), nullable=True),
        sa.Column("values_corrected", sa.Boolean(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("standard_curve", sa.JSON(), nullable=False),
        sa.Column("controls", sa.JSON(), nullable=False),
        sa.Column("left_out", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint("file_size >= 0", name=op.f("ck_instrument_runs_file_size")),
        sa.ForeignKeyConstraint(
            ["assay_run_id"],
            ["assay_runs.id"],
            name=op.f("fk_instrument_runs_assay_run_id_assay_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["import_batches.id"],
            name=op.f("fk_instrument_runs_batch_id_import_batches"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_runs")),
        sa.UniqueConstraint("assay_run_id", name=op.f("uq_instrument_runs_assay_run_id")),
    )
    op.create_index(
        op.f("ix_instrument_runs_sha256"), "instrument_runs", ["sha256"], unique=False
    )
    op.create_index(
        op.f("ix_instrument_runs_batch_id"), "instrument_runs", ["batch_id"], unique=False
    )
    # Plain ADD COLUMN (no table rebuild of the bulk table on SQLite); a dilution factor's
    # range (> 0) is ReadoutIn's rule.
    op.add_column("readouts", sa.Column("well", sa.String(length=64), nullable=True))
    op.add_column("readouts", sa.Column("dilution_factor", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("readouts") as batch:
        batch.drop_column("dilution_factor")
        batch.drop_column("well")
    op.drop_index(op.f("ix_instrument_runs_batch_id"), table_name="instrument_runs")
    op.drop_index(op.f("ix_instrument_runs_sha256"), table_name="instrument_runs")
    op.drop_table("instrument_runs")
