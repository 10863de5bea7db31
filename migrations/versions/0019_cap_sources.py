"""cap sources: agencies' CAP feeds, the documents read from them, the CAP keys taken in

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db
from sqlalchemy.dialects import postgresql

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cap_sources',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('agency_user_id', sa.Uuid(), nullable=True),
    sa.Column('trust_sender', sa.String(length=255), nullable=False),
    sa.Column('allowed_area', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_poll_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_until', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('etag', sa.String(length=512), nullable=True),
    sa.Column('last_modified', sa.String(length=64), nullable=True),
    sa.Column('last_polled_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agency_user_id'], ['users.id'], name=op.f('fk_cap_sources_agency_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_cap_sources_created_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cap_sources')),
    sa.UniqueConstraint('url', name=op.f('uq_cap_sources_url'))
    )
    with op.batch_alter_table('cap_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cap_sources_agency_user_id'), ['agency_user_id'], unique=False)
        batch_op.create_index('ix_cap_sources_next_poll_at', ['next_poll_at'], unique=False)

    op.create_table('cap_alert_keys',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('identifier', sa.String(length=255), nullable=False),
    sa.Column('sender', sa.String(length=255), nullable=False),
    sa.Column('sent', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('alert_id', sa.Uuid(), nullable=True),
    sa.Column('source_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_cap_alert_keys_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['cap_sources.id'], name=op.f('fk_cap_alert_keys_source_id_cap_sources'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cap_alert_keys')),
    sa.UniqueConstraint('identifier', 'sender', 'sent', name=op.f('uq_cap_alert_keys_identifier'))
    )
    with op.batch_alter_table('cap_alert_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cap_alert_keys_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cap_alert_keys_source_id'), ['source_id'], unique=False)

    op.create_table('cap_documents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('identifier', sa.String(length=255), nullable=True),
    sa.Column('sender', sa.String(length=255), nullable=True),
    sa.Column('sent', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('msg_type', sa.String(length=16), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('alert_id', sa.Uuid(), nullable=True),
    sa.Column('received_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_cap_documents_alert_id_alerts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['cap_sources.id'], name=op.f('fk_cap_documents_source_id_cap_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cap_documents')),
    sa.UniqueConstraint('source_id', 'digest', name=op.f('uq_cap_documents_source_id'))
    )
    with op.batch_alter_table('cap_documents', schema=None) as batch_op:
        batch_op.create_index('ix_cap_documents_source_id_received_at', ['source_id', 'received_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cap_documents', schema=None) as batch_op:
        batch_op.drop_index('ix_cap_documents_source_id_received_at')

    op.drop_table('cap_documents')
    with op.batch_alter_table('cap_alert_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cap_alert_keys_source_id'))
        batch_op.drop_index(batch_op.f('ix_cap_alert_keys_alert_id'))

    op.drop_table('cap_alert_keys')
    with op.batch_alter_table('cap_sources', schema=None) as batch_op:
        batch_op.drop_index('ix_cap_sources_next_poll_at')
        batch_op.drop_index(batch_op.f('ix_cap_sources_agency_user_id'))

    op.drop_table('cap_sources')
