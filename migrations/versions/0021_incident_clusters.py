"""incident clusters: reports of one category close in place and time corroborate each other

Revision ID: 0021
Revises: 0023 (written on 0016; the merger rechains)
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('incident_clusters',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_clusters'))
    )
    with op.batch_alter_table('incident_clusters', schema=None) as batch_op:
        batch_op.create_index('ix_incident_clusters_created_at_id', ['created_at', 'id'], unique=False)

    op.create_table('incident_cluster_members',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('cluster_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['incident_clusters.id'], name=op.f('fk_incident_cluster_members_cluster_id_incident_clusters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_cluster_members_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_incident_cluster_members'))
    )
    with op.batch_alter_table('incident_cluster_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_cluster_members_cluster_id'), ['cluster_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incident_cluster_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_cluster_members_cluster_id'))

    op.drop_table('incident_cluster_members')
    with op.batch_alter_table('incident_clusters', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_clusters_created_at_id')

    op.drop_table('incident_clusters')
