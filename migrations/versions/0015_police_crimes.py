"""police crimes: police.uk's recorded crime, imported by `nwatch import-police-data`

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('police_crimes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('force', sa.String(length=80), nullable=True),
    sa.Column('crime_id', sa.String(length=80), nullable=True),
    sa.Column('crime_type', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('outcome', sa.String(length=120), nullable=True),
    sa.Column('imported_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_police_crimes'))
    )
    with op.batch_alter_table('police_crimes', schema=None) as batch_op:
        batch_op.create_index('ix_police_crimes_force_month', ['force', 'month'], unique=False)
        batch_op.create_index(batch_op.f('ix_police_crimes_month'), ['month'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('police_crimes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_police_crimes_month'))
        batch_op.drop_index('ix_police_crimes_force_month')

    op.drop_table('police_crimes')
