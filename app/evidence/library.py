"""The prevention library: listing it, and the actions admins and agency officers add.

The built-in actions (app.evidence.prevention, seeded by migration 0022) are ours: only
an admin changes or deletes them. An agency officer changes and deletes the actions they
added; an admin any. Residents and coordinators read the library and pick from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import Role, User
from app.categories import Category
from app.evidence.models import PreventionAction
from app.evidence.schemas import PreventionActionCreate, PreventionActionUpdate
from app.pagination import chunks
from app.problems import Problem, conflict, forbidden, not_found
from app.settings import Settings

EDITORS = (Role.agency, Role.admin)


async def list_actions(session: AsyncSession, category: Category | None) -> list[PreventionAction]:
    """By category, then in the order they were added (the built-in ones in the
    library's order, as seeded)."""
    stmt = select(PreventionAction)
    if category is not None:
        stmt = stmt.where(col(PreventionAction.category) == category.value)
    stmt = stmt.order_by(
        col(PreventionAction.category), col(PreventionAction.created_at), col(PreventionAction.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def actions_by_id(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, PreventionAction]:
    found: dict[uuid.UUID, PreventionAction] = {}
    for chunk in chunks(set(ids)):
        rows = await session.execute(
            select(PreventionAction).where(col(PreventionAction.id).in_(chunk))
        )
        found.update({a.id: a for a in rows.scalars()})
    return found


async def _check_new_text(
    session: AsyncSession, settings: Settings, category: str, text: str, but: uuid.UUID | None
) -> None:
    same = select(func.count()).where(
        col(PreventionAction.category) == category,
        func.lower(col(PreventionAction.text)) == text.lower(),
    )
    if but is not None:
        same = same.where(col(PreventionAction.id) != but)
    if (await session.execute(same)).scalar_one():
        raise conflict("This category already has that action.", kind="duplicate-action")
    added = select(func.count()).where(
        col(PreventionAction.category) == category, col(PreventionAction.built_in).is_(False)
    )
    if but is not None:
        added = added.where(col(PreventionAction.id) != but)
    if (await session.execute(added)).scalar_one() >= settings.max_prevention_actions_per_category:
        raise conflict(
            f"A category holds at most {settings.max_prevention_actions_per_category} "
            "actions besides the built-in ones: change or delete one first.",
            kind="library-full",
        )


async def create_action(
    session: AsyncSession, settings: Settings, user: User, data: PreventionActionCreate
) -> PreventionAction:
    if user.role not in EDITORS:
        raise forbidden("Only admins and agency officers add to the prevention library.")
    await _check_new_text(session, settings, data.category.value, data.text, None)
    action = PreventionAction(
        category=data.category.value,
        text=data.text,
        url=str(data.url) if data.url is not None else None,
        created_by=user.id,
    )
    session.add(action)
    await session.flush()
    return action


async def editable_action(
    session: AsyncSession, user: User, action_id: uuid.UUID
) -> PreventionAction:
    """The action if `user` may change or delete it: an admin any, an agency officer
    those they added; 403 otherwise (everyone may read the library, so no 404 hides it)."""
    action = await session.get(PreventionAction, action_id)
    if action is None:
        raise not_found("prevention action")
    if user.role == Role.admin:
        return action
    if user.role != Role.agency:
        raise forbidden("Only admins and agency officers change the prevention library.")
    if action.built_in:
        raise forbidden("The built-in actions are changed by an admin only.")
    if action.created_by != user.id:
        raise forbidden("Agency officers change only the actions they added.")
    return action


async def update_action(
    session: AsyncSession,
    settings: Settings,
    user: User,
    action_id: uuid.UUID,
    data: PreventionActionUpdate,
) -> PreventionAction:
    action = await editable_action(session, user, action_id)
    given = data.model_fields_set
    if not given:
        raise Problem(422, "Nothing to change.", kind="validation-error")
    category = data.category.value if data.category is not None else action.category
    text = data.text if data.text is not None else action.text
    if category != action.category or text.lower() != action.text.lower():
        await _check_new_text(session, settings, category, text, action.id)
    action.category, action.text = category, text
    if "url" in given:
        action.url = str(data.url) if data.url is not None else None
    session.add(action)
    await session.flush()
    return action


async def delete_action(session: AsyncSession, user: User, action_id: uuid.UUID) -> None:
    """Alerts that named it keep its text and link: they copied them when issued."""
    await session.delete(await editable_action(session, user, action_id))
    await session.flush()
