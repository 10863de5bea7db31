"""open311: contact details sent with Open311 reports, API clients' idempotency keys,
and API clients found by their secret's hash

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db
from sqlalchemy.dialects import postgresql

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('open311_contacts',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('client_id', sa.Uuid(), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('first_name', sa.String(length=100), nullable=True),
    sa.Column('last_name', sa.String(length=100), nullable=True),
    sa.Column('device_id', sa.String(length=200), nullable=True),
    sa.Column('account_id', sa.String(length=200), nullable=True),
    sa.Column('address_string', sa.String(length=500), nullable=True),
    sa.Column('media_url', sa.String(length=2000), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], name=op.f('fk_open311_contacts_client_id_api_clients'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_open311_contacts_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_open311_contacts'))
    )
    with op.batch_alter_table('open311_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open311_contacts_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open311_contacts_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open311_contacts_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open311_contacts_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_open311_contacts_phone'), ['phone'], unique=False)

    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.create_index('ix_api_clients_previous_secret_hash', ['previous_secret_hash'], unique=False)
        batch_op.create_index('ix_api_clients_secret_hash', ['secret_hash'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.drop_index('ix_api_clients_secret_hash')
        batch_op.drop_index('ix_api_clients_previous_secret_hash')

    with op.batch_alter_table('open311_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open311_contacts_phone'))
        batch_op.drop_index(batch_op.f('ix_open311_contacts_email'))
        batch_op.drop_index(batch_op.f('ix_open311_contacts_device_id'))
        batch_op.drop_index(batch_op.f('ix_open311_contacts_client_id'))
        batch_op.drop_index(batch_op.f('ix_open311_contacts_account_id'))

    op.drop_table('open311_contacts')
