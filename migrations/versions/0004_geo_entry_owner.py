"""geo entry owner

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('geo_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_id', sa.Uuid(), nullable=True))
    # Places already indexed get their resident as owner.
    op.execute(
        "UPDATE geo_entries SET owner_id = (SELECT places.user_id FROM places"
        " WHERE places.id = geo_entries.object_id) WHERE collection = 'place'"
    )



def downgrade() -> None:
    with op.batch_alter_table('geo_entries', schema=None) as batch_op:
        batch_op.drop_column('owner_id')

