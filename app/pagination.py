"""Opaque keyset cursors and the `Page[T]` envelope every list answers with."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Mapped

from app.problems import field_problem
from app.schemas import check_instant

T = TypeVar("T")
R = TypeVar("R")
U = TypeVar("U")
SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])

LimitParam = Annotated[int, Query(ge=1, le=200, description="Page size")]
CursorParam = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` from the previous page")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor holds. Cursors are opaque but not signed, so a client can
    craft one: whatever it holds is checked as any other instant from a client is."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return check_instant(datetime.fromisoformat(created)), uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise field_problem(
            400, "cursor", "is not one this API issued", kind="invalid-cursor", code="invalid"
        ) from exc


def newest_first(
    stmt: SelectT,
    created_col: Mapped[datetime],
    id_col: Mapped[uuid.UUID],
    cursor: str | None,
    limit: int,
) -> SelectT:
    """Order newest first (ties broken by id) and start after `cursor`; fetch one extra."""
    if cursor:
        created, row_id = decode_cursor(cursor)
        stmt = stmt.where(or_(created_col < created, and_(created_col == created, id_col < row_id)))
    return stmt.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)


# Bound parameters per statement: below SQLite's (32,766) and PostgreSQL's (32,767) limits.
IN_LIST_LIMIT = 30_000


def chunks(items: Iterable[U], size: int | None = None) -> Iterator[list[U]]:
    size = size or IN_LIST_LIMIT
    batch: list[U] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def page_of(
    rows: Sequence[R],
    limit: int,
    key: Callable[[R], tuple[datetime, uuid.UUID]],
    convert: Callable[[R], T],
) -> Page[T]:
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(*key(rows[-1])) if more and rows else None
    return Page[T](items=[convert(r) for r in rows], next_cursor=next_cursor)
