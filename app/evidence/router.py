from __future__ import annotations

import uuid

from fastapi import Query, Request, status

from app.auth.deps import CurrentUser, rate_limit
from app.categories import Category
from app.db import SessionDep
from app.evidence import service
from app.evidence.models import PreventionAction
from app.evidence.schemas import (
    PreventionActionCreate,
    PreventionActionRead,
    PreventionActionUpdate,
)
from app.ratelimit import DAY, Rate
from app.routing import make_router, problem_responses

router = make_router(prefix="/v1", tags=["evidence"], responses=problem_responses(401))

# Adding, changing and deleting actions share one count per editor.
EDITS_LIMIT = rate_limit(
    "prevention-edits",
    lambda s, _: Rate(s.prevention_edits_per_user_per_day, DAY),
    "changes to the prevention library",
)


def _read(action: PreventionAction) -> PreventionActionRead:
    return PreventionActionRead.model_validate(action)


@router.get("/prevention-actions", response_model=list[PreventionActionRead])
async def list_prevention_actions(
    _user: CurrentUser,
    session: SessionDep,
    category: Category | None = Query(default=None, description="Only this category's"),
) -> list[PreventionActionRead]:
    """The prevention library: concrete things residents can do, per category; ours
    (`built_in`) for every category, then those admins and agency officers added. A short
    list (at most `NW_MAX_PREVENTION_ACTIONS_PER_CATEGORY` added per category), so not
    paginated. Alerts name actions from it by `id` (`actions: [{"action_id": …}]`)."""
    return [_read(a) for a in await service.list_actions(session, category)]


@router.post(
    "/prevention-actions",
    status_code=status.HTTP_201_CREATED,
    response_model=PreventionActionRead,
    responses=problem_responses(403, 409, 429),
    dependencies=[EDITS_LIMIT],
)
async def create_prevention_action(
    data: PreventionActionCreate, user: CurrentUser, session: SessionDep, request: Request
) -> PreventionActionRead:
    """Add an action to the library (admins and agency officers; 403 for anyone else).
    The text is one line of at most 200 characters; a link must be https. 409
    `duplicate-action` if the category has the same text already, `library-full` beyond
    `NW_MAX_PREVENTION_ACTIONS_PER_CATEGORY` added actions in it."""
    settings = request.app.state.settings
    return _read(await service.create_action(session, settings, user, data))


@router.patch(
    "/prevention-actions/{action_id}",
    response_model=PreventionActionRead,
    responses=problem_responses(403, 404, 409, 429),
    dependencies=[EDITS_LIMIT],
)
async def update_prevention_action(
    action_id: uuid.UUID,
    data: PreventionActionUpdate,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
) -> PreventionActionRead:
    """Change an action's text, link or category: an agency officer the actions they
    added, an admin any (the built-in ones too). Alerts already issued keep the text
    they were issued with."""
    settings = request.app.state.settings
    return _read(await service.update_action(session, settings, user, action_id, data))


@router.delete(
    "/prevention-actions/{action_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404, 429),
    dependencies=[EDITS_LIMIT],
)
async def delete_prevention_action(
    action_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> None:
    """Take an action out of the library: an agency officer those they added, an admin
    any. Alerts that named it keep its text and link, and its acknowledgement counts."""
    await service.delete_action(session, user, action_id)
