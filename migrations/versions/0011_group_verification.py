"""group verification

Every existing group becomes `unverified` (the column's server default): none was vetted,
so none moderates until an agency officer or admin verifies it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('verification_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('group_id', sa.Uuid(), nullable=False),
    sa.Column('requested_by', sa.Uuid(), nullable=True),
    sa.Column('message', sa.String(length=2000), nullable=True),
    sa.Column('open', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_verification_requests_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_verification_requests_requested_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_requests'))
    )
    with op.batch_alter_table('verification_requests', schema=None) as batch_op:
        batch_op.create_index('ix_verification_requests_group_id', ['group_id'], unique=False)

    op.create_table('verification_decisions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('group_id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=True),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=2000), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_verification_decisions_decided_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_verification_decisions_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['verification_requests.id'], name=op.f('fk_verification_decisions_request_id_verification_requests'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_decisions'))
    )
    with op.batch_alter_table('verification_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_verification_decisions_group_id', ['group_id', 'created_at'], unique=False)

    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verification', sa.String(length=16), server_default='unverified', nullable=False))
        batch_op.add_column(sa.Column('verified_at', app.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_snapped_lat', ['snapped_lat', 'snapped_lon'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_snapped_lat')

    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_column('verified_at')
        batch_op.drop_column('verification')

    with op.batch_alter_table('verification_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_decisions_group_id')

    op.drop_table('verification_decisions')
    with op.batch_alter_table('verification_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_requests_group_id')

    op.drop_table('verification_requests')
