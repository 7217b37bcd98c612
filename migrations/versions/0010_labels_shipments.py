"""shipments and shipment items

Tubes sent to another site or received from one: a shipment (code, direction, counterpart,
courier, tracking, status) and its tubes with where each was and what became of it on
arrival. Only new tables, so downgrading drops them and nothing else (docs/labels.md).

Revision ID: 0010_labels
Revises: 0006_lifecycle
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010_labels'
down_revision: str | None = '0006_lifecycle'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shipments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('counterpart', sa.String(length=256), nullable=False),
    sa.Column('courier', sa.String(length=128), nullable=True),
    sa.Column('tracking', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=True),
    sa.Column('received_by', sa.String(length=64), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.CheckConstraint("direction IN ('out', 'in')", name=op.f('ck_shipments_direction')),
    sa.CheckConstraint("status IN ('sent', 'received')", name=op.f('ck_shipments_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
    sa.UniqueConstraint('code', name=op.f('uq_shipments_code'))
    )
    op.create_table('shipment_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=True),
    sa.Column('sample_code', sa.String(length=64), nullable=False),
    sa.Column('from_location', sa.String(length=256), nullable=True),
    sa.Column('volume_ml', sa.Float(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('received_location', sa.String(length=256), nullable=True),
    sa.CheckConstraint("outcome IN ('sent', 'received', 'missing', 'unexpected')", name=op.f('ck_shipment_items_outcome')),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], name=op.f('fk_shipment_items_sample_id_samples')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_shipment_items_shipment_id_shipments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_items')),
    sa.UniqueConstraint('shipment_id', 'sample_code', name=op.f('uq_shipment_items_shipment_id_sample_code'))
    )
    with op.batch_alter_table('shipment_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipment_items_sample_id'), ['sample_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('shipment_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipment_items_sample_id'))

    op.drop_table('shipment_items')
    op.drop_table('shipments')
