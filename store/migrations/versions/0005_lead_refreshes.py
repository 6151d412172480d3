"""lead_refreshes: work a handoff leaves for after its commit (conflicts, cards)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lead_refreshes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_refreshes_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_refreshes'))
    )
    with op.batch_alter_table('lead_refreshes', schema=None) as batch_op:
        batch_op.create_index('ix_lead_refreshes_kind_lead', ['kind', 'lead_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lead_refreshes', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_refreshes_kind_lead')
    op.drop_table('lead_refreshes')
