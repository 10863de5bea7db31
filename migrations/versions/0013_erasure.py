"""erasure: the erasures record, and acks that outlive their resident

An erased resident's acknowledgements stay as anonymous counts on the alerts, so
`alert_acks.user_id` becomes nullable and is set to NULL when the account goes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('erasures',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('requested_by', sa.String(length=8), nullable=False),
    sa.Column('admin_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['admin_id'], ['users.id'], name=op.f('fk_erasures_admin_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasures'))
    )
    with op.batch_alter_table('alert_acks', schema=None) as batch_op:
        batch_op.alter_column('user_id', existing_type=sa.Uuid(), nullable=True)
        batch_op.drop_constraint('fk_alert_acks_user_id_users', type_='foreignkey')
        batch_op.create_foreign_key(op.f('fk_alert_acks_user_id_users'), 'users', ['user_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    op.execute("DELETE FROM alert_acks WHERE user_id IS NULL")
    with op.batch_alter_table('alert_acks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_alert_acks_user_id_users', type_='foreignkey')
        batch_op.create_foreign_key(op.f('fk_alert_acks_user_id_users'), 'users', ['user_id'], ['id'], ondelete='CASCADE')
        batch_op.alter_column('user_id', existing_type=sa.Uuid(), nullable=False)

    op.drop_table('erasures')
