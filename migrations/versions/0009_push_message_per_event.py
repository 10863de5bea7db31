"""push message per event

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message', JSON, nullable=True))
    # Deliveries still pending keep what they were going to say.
    op.execute(
        'UPDATE outbox SET message = (SELECT d.message FROM deliveries d '
        'WHERE d.event_id = outbox.id LIMIT 1)'
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('message')


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message', JSON, nullable=True))
    op.execute(
        'UPDATE deliveries SET message = (SELECT o.message FROM outbox o '
        'WHERE o.id = deliveries.event_id)'
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('message')
