"""scorecards: business hours to accept, partner baselines, App Home filters, settled figures

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:00:00

Leads accepted before this revision get their business hours to accept computed here, with the
business calendar of the playbook named by PLAYBOOK_PATH (the default playbook's without it),
so their medians are on the same footing as new acceptances.
"""
import os

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _calendar():
    from store.playbook import default_playbook, load_playbook

    path = os.environ.get("PLAYBOOK_PATH")
    return (load_playbook(path) if path else default_playbook()).calendar


def upgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accept_hours', sa.Float(), nullable=True))
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('baseline_period', sa.String(length=40), nullable=True))
    op.create_table(
        'home_tabs',
        sa.Column('user_id', sa.String(length=20), nullable=False),
        sa.Column('filters', sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), 'postgresql'), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_home_tabs')),
    )

    op.create_table(
        'period_figures',
        sa.Column('period_key', sa.String(length=120), nullable=False),
        sa.Column('partner_id', sa.Integer(), nullable=False),
        sa.Column('figures', sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), 'postgresql'), nullable=False),
        sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('period_key', 'partner_id', name=op.f('pk_period_figures')),
    )

    from store.models import UTCDateTime

    leads = sa.table('leads', sa.column('id', sa.Integer), sa.column('created_at', UTCDateTime()),
                     sa.column('accepted_at', UTCDateTime()), sa.column('accept_hours', sa.Float))
    bind = op.get_bind()
    rows = bind.execute(sa.select(leads.c.id, leads.c.created_at, leads.c.accepted_at)
                        .where(leads.c.accepted_at.is_not(None))).all()
    if rows:
        calendar = _calendar()
        bind.execute(leads.update().where(leads.c.id == sa.bindparam('lead_id')),
                     [{'lead_id': lead_id, 'accept_hours': round(calendar.business_hours_between(made, accepted), 4)}
                      for lead_id, made, accepted in rows])


def downgrade() -> None:
    op.drop_table('period_figures')
    op.drop_table('home_tabs')
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_column('baseline_period')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_column('accept_hours')
