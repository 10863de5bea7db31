"""alert receipts: why each resident got each alert version (`why` on GET /v1/alerts/{id})

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db
from sqlalchemy.dialects import postgresql

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('alert_receipts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('alert_id', sa.Uuid(), nullable=False),
    sa.Column('chain_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('silent', sa.Boolean(), nullable=False),
    sa.Column('place_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('group_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('quiet_hours', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('overrode', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_receipts_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['outbox.id'], name=op.f('fk_alert_receipts_event_id_outbox'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_alert_receipts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_receipts')),
    sa.UniqueConstraint('event_id', 'user_id', name=op.f('uq_alert_receipts_event_id'))
    )
    with op.batch_alter_table('alert_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_receipts_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_alert_receipts_user_id_alert_id', ['user_id', 'alert_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('alert_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_receipts_user_id_alert_id')
        batch_op.drop_index(batch_op.f('ix_alert_receipts_created_at'))

    op.drop_table('alert_receipts')
