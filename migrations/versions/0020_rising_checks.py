"""evidence checks: the weekly "what is rising" check of each verified group

Revision ID: 0020
Revises: 0016
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('evidence_checks',
    sa.Column('group_id', sa.Uuid(), nullable=False),
    sa.Column('checked_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('period_last', sa.Date(), nullable=False),
    sa.Column('notified', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_evidence_checks_group_id_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', name=op.f('pk_evidence_checks'))
    )


def downgrade() -> None:
    op.drop_table('evidence_checks')
