"""per-user seq

The event log's global `seq` was the number clients saw: the gap between two of a
user's own events counted everyone else's events in between. Each row now also carries
`user_seq`, the user's own 1, 2, 3…, numbered here in the order of `seq`; `seq` stays
as the internal order the API processes tail the log by. Deliveries carried the global
number for the push's data: they get the recipient's own (none when the row is gone).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# row_number() is in SQLite from 3.25 and UPDATE … FROM from 3.33, as in PostgreSQL.
NUMBER_EACH_USERS_ROWS = """
UPDATE event_log SET user_seq = numbered.n
FROM (
    SELECT seq, row_number() OVER (PARTITION BY user_id ORDER BY seq) AS n FROM event_log
) AS numbered
WHERE numbered.seq = event_log.seq
"""
DELIVERIES_TO_USER_SEQ = """
UPDATE deliveries SET seq = (
    SELECT event_log.user_seq FROM event_log
    WHERE event_log.seq = deliveries.seq AND event_log.user_id = deliveries.user_id
)
WHERE seq IS NOT NULL
"""
DELIVERIES_TO_GLOBAL_SEQ = """
UPDATE deliveries SET seq = (
    SELECT event_log.seq FROM event_log
    WHERE event_log.user_seq = deliveries.seq AND event_log.user_id = deliveries.user_id
)
WHERE seq IS NOT NULL
"""


def _sqlite_sequence() -> int | None:
    """The AUTOINCREMENT high-water mark: SQLite's batch mode copies the table into a new
    one, which would start again from the highest seq left, reusing pruned numbers."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return None
    found = bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'event_log'"))
    return found.scalar()


def _restore_sqlite_sequence(high: int | None) -> None:
    if high is not None:
        bind = op.get_bind()
        bind.execute(
            sa.text("UPDATE sqlite_sequence SET seq = max(seq, :high) WHERE name = 'event_log'"),
            {'high': high},
        )
        bind.execute(
            sa.text(
                "INSERT INTO sqlite_sequence (name, seq) SELECT 'event_log', :high "
                "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'event_log')"
            ),
            {'high': high},
        )


def upgrade() -> None:
    high = _sqlite_sequence()
    with op.batch_alter_table('event_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
    op.execute(NUMBER_EACH_USERS_ROWS)
    op.execute(DELIVERIES_TO_USER_SEQ)
    with op.batch_alter_table(
        'event_log', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.alter_column('user_seq', existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False)
        batch_op.drop_index('ix_event_log_user_id_seq')
        batch_op.create_unique_constraint(batch_op.f('uq_event_log_user_id'), ['user_id', 'user_seq'])
    _restore_sqlite_sequence(high)


def downgrade() -> None:
    high = _sqlite_sequence()
    op.execute(DELIVERIES_TO_GLOBAL_SEQ)
    with op.batch_alter_table(
        'event_log', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_event_log_user_id'), type_='unique')
        batch_op.create_index('ix_event_log_user_id_seq', ['user_id', 'seq'], unique=False)
        batch_op.drop_column('user_seq')
    _restore_sqlite_sequence(high)
