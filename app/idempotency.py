"""Idempotency-Key for writes a mobile client may retry (flaky networks).

The first request with a key stores its answer in the same transaction as its effect;
a retry with the same key and body gets that answer again, a reuse with another body
is refused. The key row, answer included, is written before the effect, so that
concurrent retries queue on its primary key: exactly one of them does the work.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ForeignKey, Integer, String, Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONDoc, UTCDateTime, insert_for, utcnow
from app.problems import FieldError, Problem


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The table, not the entity, in the two statements of every keyed request: Core
# statements skip the ORM's bulk-DML bookkeeping (synchronising the identity map).
_TABLE = cast(Table, IdempotencyRecord.__table__)


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _reused() -> Problem:
    message = "this key was used with a different request body"
    return Problem(
        422,
        f"Idempotency-Key: {message}.",
        kind="idempotency-key-reused",
        errors=[FieldError(field="Idempotency-Key", message=message, code="key_reused")],
    )


async def claim(
    session: AsyncSession,
    user_id: uuid.UUID,
    scope: str,
    key: str,
    body_hash: str,
    answer: tuple[int, dict[str, Any]],
) -> dict[str, Any] | None:
    """Claim `key` for this request, storing the `answer` (status, body) it will give.

    Returns the stored answer's body when it is a replay. The row is written in the caller's
    transaction, so the answer is seen exactly when the effect is: if the request fails
    afterwards, the key is free again.
    """
    # One statement for the usual case, a new key. A concurrent request with the same
    # key makes this one wait on the primary key until it commits, then insert nothing.
    status_code, response = answer
    claimed = await session.execute(
        insert_for(session, _TABLE)
        .values(
            user_id=user_id,
            scope=scope,
            key=key,
            request_hash=body_hash,
            status_code=status_code,
            response=response,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
        .returning(_TABLE.c.key)
    )
    if claimed.first() is not None:
        return None
    stored = (
        await session.execute(
            select(IdempotencyRecord)
            .where(
                IdempotencyRecord.user_id == user_id,
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
            )
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if stored.request_hash != body_hash:
        raise _reused()
    return stored.response
