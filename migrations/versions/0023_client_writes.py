"""client writes: alerts an API client issued, and idempotency keys an API client owns

`alerts.issued_by_client_id` names the API client (`alerts:write`) that issued an alert.
An Idempotency-Key is owned by a user or by an API client (`incidents:write`):
`idempotency_keys` is keyed by `owner_id`, and `user_id` or `client_id` repeats it so that
the keys go with their account or client.

Revision ID: 0023
Revises: 0016
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issued_by_client_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_alerts_issued_by_client_id"), ["issued_by_client_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_issued_by_client_id_api_clients"),
            "api_clients",
            ["issued_by_client_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("client_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE idempotency_keys SET owner_id = user_id")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_constraint("pk_idempotency_keys", type_="primary")
        batch_op.alter_column("owner_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.alter_column("user_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.create_primary_key("pk_idempotency_keys", ["owner_id", "scope", "key"])
        batch_op.create_index(batch_op.f("ix_idempotency_keys_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_client_id"), ["client_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_idempotency_keys_client_id_api_clients"),
            "api_clients",
            ["client_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    # An API client's keys have no user to belong to: they go.
    op.execute("DELETE FROM idempotency_keys WHERE user_id IS NULL")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_constraint("fk_idempotency_keys_client_id_api_clients", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_client_id"))
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_user_id"))
        batch_op.drop_constraint("pk_idempotency_keys", type_="primary")
        batch_op.alter_column("user_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.create_primary_key("pk_idempotency_keys", ["user_id", "scope", "key"])
        batch_op.drop_column("client_id")
        batch_op.drop_column("owner_id")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_alerts_issued_by_client_id_api_clients", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_alerts_issued_by_client_id"))
        batch_op.drop_column("issued_by_client_id")
