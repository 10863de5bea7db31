"""Acknowledgements, the actions residents say they took, and an alert's reach figures.

An `acted` acknowledgement may name which of the alert's actions the resident took. Each
is kept under a key that is the same in every version of the chain (a library action's
id, or a free-text action's text), so that an update reordering the actions keeps the
counts; the figures come out rounded (`service.disclosed`) as all reach figures do.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts.models import Ack, AckAction, AckKind, Alert
from app.alerts.recipients import resolve_chain_recipients
from app.alerts.schemas import (
    AckCounts,
    ActionCount,
    ActionRead,
    AlertStats,
    PushCounts,
    TakenAction,
)
from app.alerts.service import (
    DISCLOSURE_FLOOR,
    chain,
    is_group_moderator,
    may_manage,
    reach,
)
from app.auth.models import User
from app.pagination import chunks
from app.problems import forbidden, invalid


@dataclass(frozen=True)
class Taken:
    key: str
    action_id: uuid.UUID | None
    text: str


def action_key(action: Mapping[str, Any]) -> str:
    """The same action in every version of an alert: by library id, else by its text."""
    if action.get("action_id"):
        return f"id:{action['action_id']}"
    return f"text:{action['text']}"


def _taken(alert: Alert, named: list[TakenAction], kind: AckKind) -> list[Taken]:
    """The alert's actions that `named` points at; 422 naming the entry that is none."""
    if named and kind != AckKind.acted:
        raise invalid("actions", "only an `acted` acknowledgement names actions")
    taken: dict[str, Taken] = {}
    for i, ref in enumerate(named):
        if ref.index is not None:
            if ref.index >= len(alert.actions):
                raise invalid(
                    f"actions.{i}.index",
                    f"the alert has {len(alert.actions)} actions",
                    code="unknown_action",
                )
            action = alert.actions[ref.index]
        else:
            found = [a for a in alert.actions if a.get("action_id") == str(ref.action_id)]
            if not found:
                raise invalid(
                    f"actions.{i}.action_id",
                    "is not one of the alert's actions",
                    code="unknown_action",
                )
            action = found[0]
        action_id = action.get("action_id")
        key = action_key(action)
        taken[key] = Taken(key, uuid.UUID(action_id) if action_id else None, action["text"])
    return list(taken.values())


async def _find_ack(session: AsyncSession, user: User, alert: Alert, kind: AckKind) -> Ack | None:
    return (
        await session.execute(
            select(Ack).where(
                col(Ack.chain_id) == alert.chain_id,
                col(Ack.user_id) == user.id,
                col(Ack.kind) == kind.value,
            )
        )
    ).scalar_one_or_none()


async def _record_taken(session: AsyncSession, ack: Ack, taken: list[Taken]) -> None:
    known = set(
        (
            await session.execute(select(col(AckAction.key)).where(col(AckAction.ack_id) == ack.id))
        ).scalars()
    )
    for t in taken:
        if t.key in known:
            continue
        try:
            async with session.begin_nested():
                session.add(
                    AckAction(
                        ack_id=ack.id,
                        chain_id=ack.chain_id,
                        key=t.key,
                        action_id=t.action_id,
                        text=t.text,
                    )
                )
        except IntegrityError:  # the same action named twice at once: once is enough
            pass


async def actions_of(
    session: AsyncSession, ack_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ActionRead]]:
    """The actions named with each of these acks, in the order they were named."""
    named: dict[uuid.UUID, list[ActionRead]] = {}
    for chunk in chunks(ack_ids):
        rows = await session.execute(
            select(AckAction)
            .where(col(AckAction.ack_id).in_(chunk))
            .order_by(col(AckAction.created_at), col(AckAction.id))
        )
        for row in rows.scalars():
            named.setdefault(row.ack_id, []).append(
                ActionRead(action_id=row.action_id, text=row.text, url=None)
            )
    return named


async def ack_alert(
    session: AsyncSession, user: User, alert: Alert, kind: AckKind, named: list[TakenAction]
) -> tuple[Ack, bool, list[ActionRead]]:
    """Record an acknowledgement; one of each kind per user and alert, idempotently. An
    `acted` one sent again with more actions adds them: a resident may do more later."""
    taken = _taken(alert, named, kind)
    created = False
    ack = await _find_ack(session, user, alert, kind)
    if ack is None:
        ack = Ack(chain_id=alert.chain_id, alert_id=alert.id, user_id=user.id, kind=kind.value)
        try:
            async with session.begin_nested():
                session.add(ack)
            created = True
        except IntegrityError:  # the same ack sent twice at once
            ack = await _find_ack(session, user, alert, kind)
            assert ack is not None
    if taken:
        await _record_taken(session, ack, taken)
    urls = {action_key(a): a.get("url") for a in alert.actions}
    actions = [
        a.model_copy(update={"url": urls.get(action_key(a.model_dump(mode="json")))})
        for a in (await actions_of(session, [ack.id])).get(ack.id, [])
    ]
    return ack, created, actions


# How a channel counts an alert chain's deliveries by state: the push channel's is
# handed in (app.main), as no domain imports a channel.
PushCounter = Callable[[AsyncSession, uuid.UUID], Awaitable[Mapping[str, int]]]


async def no_pushes(_session: AsyncSession, _chain_id: uuid.UUID) -> Mapping[str, int]:
    return {}


async def _action_counts(session: AsyncSession, alert: Alert) -> list[ActionCount]:
    counts = dict(
        (
            await session.execute(
                select(col(AckAction.key), func.count())
                .where(col(AckAction.chain_id) == alert.chain_id)
                .group_by(col(AckAction.key))
            )
        ).all()
    )
    return [
        ActionCount(
            index=i,
            action_id=a.get("action_id"),
            text=a["text"],
            acted=reach(counts.get(action_key(a), 0)),
        )
        for i, a in enumerate(alert.actions)
    ]


async def alert_stats(
    session: AsyncSession, user: User, alert: Alert, push_counts: PushCounter = no_pushes
) -> AlertStats:
    """Counts only, never who was in the area or who acknowledged; and rounded (see
    `disclosed`), so that they cannot tell whether anyone watches a spot either."""
    if not may_manage(user, alert, await is_group_moderator(session, user, alert.group_id)):
        raise forbidden("Only the issuer, the group's coordinators or an admin see statistics.")
    versions = await chain(session, alert)
    recipients = await resolve_chain_recipients(session, versions)
    counts = dict(
        (
            await session.execute(
                select(col(Ack.kind), func.count())
                .where(col(Ack.chain_id) == alert.chain_id)
                .group_by(col(Ack.kind))
            )
        ).all()
    )
    first_ack = await session.execute(
        select(func.min(col(Ack.created_at)))
        .where(col(Ack.chain_id) == alert.chain_id)
        # An erased resident's acks have no user: each counts as someone's first.
        .group_by(func.coalesce(col(Ack.user_id), col(Ack.id)))
    )
    issued = versions[0].issued_at
    delays = [(t - issued).total_seconds() for t in first_ack.scalars() if t is not None]
    pushes = await push_counts(session, alert.chain_id)
    return AlertStats(
        recipients=reach(len(recipients)),
        push=PushCounts(
            sent=reach(pushes.get("sent", 0)),
            failed=reach(pushes.get("failed", 0)),
            pending=reach(pushes.get("pending", 0)),
        ),
        # WebSocket deliveries come with the realtime issue.
        realtime_delivered=reach(0),
        acks=AckCounts(**{k.value: reach(counts.get(k.value, 0)) for k in AckKind}),
        actions=await _action_counts(session, alert),
        # With few acks the median would time one person's answer.
        median_ack_s=(
            round(statistics.median(delays), 3) if len(delays) >= DISCLOSURE_FLOOR else None
        ),
    )
