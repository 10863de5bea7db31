from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Annotated

from fastapi import Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from app.auth.deps import CurrentUser, rate_limit
from app.categories import Category
from app.db import SessionDep, utcnow
from app.evidence import library, service
from app.evidence.models import PreventionAction
from app.evidence.months import MAX_MONTHS, MONTH_PATTERN, Months, add_months, parse_month
from app.evidence.schemas import (
    AreaEvidence,
    GroupStats,
    PreventionActionCreate,
    PreventionActionRead,
    PreventionActionUpdate,
)
from app.geo.schemas import Area, CircleArea, MultiPolygonArea, PolygonArea
from app.geo.shapes import from_geojson
from app.geo.validation import checked_area
from app.groups import service as groups_service
from app.groups.deps import GroupFromPath
from app.incidents import service as incidents_service
from app.problems import invalid
from app.ratelimit import DAY, HOUR, Rate
from app.routing import make_router, problem_responses

router = make_router(prefix="/v1", tags=["evidence"], responses=problem_responses(401))
AreaValue = CircleArea | PolygonArea | MultiPolygonArea
_AREA: TypeAdapter[AreaValue] = TypeAdapter(Area)
AREA_EXAMPLE = '{"type":"Point","coordinates":[-0.1276,51.5072],"radius_m":1000}'

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
    return [_read(a) for a in await library.list_actions(session, category)]


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
    return _read(await library.create_action(session, settings, user, data))


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
    return _read(await library.update_action(session, settings, user, action_id, data))


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
    await library.delete_action(session, user, action_id)


@router.get(
    "/groups/{group_id}/stats",
    response_model=GroupStats,
    tags=["groups"],
    responses=problem_responses(403, 422),
)
async def read_group_stats(
    access: GroupFromPath,
    session: SessionDep,
    start: Annotated[date | None, Query(alias="from", description="First day, included")] = None,
    end: Annotated[date | None, Query(alias="to", description="Exclusive")] = None,
) -> GroupStats:
    """Reports inside the group's area by category and ISO week, beside the same length of
    time just before, so that a coordinator can tell residents what is rising; and, in
    `evidence`, police-recorded and resident-reported counts by category and month for
    whole months (those holding `from` to `to`; without either, the last three complete
    months), the months just before and the same months a year earlier, with the
    categories significantly rising."""
    stats = await incidents_service.group_stats(session, access, start, end)
    if start is None and end is None:
        months = Months.last_complete(utcnow().date())
    else:
        months = Months.covering(stats.current.start, stats.current.end)
    area = from_geojson(access.group.area)
    evidence = await service.group_evidence(session, access.user, area, months)
    return GroupStats(current=stats.current, previous=stats.previous, evidence=evidence)


def _month(name: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return parse_month(text)
    except ValueError as exc:
        raise invalid(name, str(exc)) from exc


def months_asked(start: str | None, end: str | None, today: date) -> Months:
    first, last = _month("from", start), _month("to", end)
    if first is None and last is None:
        return Months.last_complete(today)
    if first is None:
        first = add_months(last, -2)  # type: ignore[arg-type]  # `to` was given
    if last is None:
        last = add_months(first, 2)
    if first > last:
        raise invalid("from", "must be no later than `to`")
    months = Months(first, last)
    if months.count > MAX_MONTHS:
        raise invalid("from", f"the period may span at most {MAX_MONTHS} months")
    return months


def _area(text: str) -> AreaValue:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise invalid("area", "must be a GeoJSON object (JSON, URL-encoded)") from exc
    try:
        return _AREA.validate_python(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", "area", *e["loc"])} for e in exc.errors()]
        ) from exc


@router.get(
    "/areas/stats",
    response_model=AreaEvidence,
    responses=problem_responses(403, 422, 429),
    dependencies=[
        rate_limit(
            "area-stats",
            lambda s, _: Rate(s.area_stats_per_user_per_hour, HOUR),
            "area statistics",
        )
    ],
)
async def read_area_stats(
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    area: Annotated[
        str,
        Query(
            max_length=16_000,
            description="A GeoJSON Polygon or MultiPolygon, or a circle (a Point with "
            "`radius_m`), as JSON; no larger than the caller may draw a group",
            examples=[AREA_EXAMPLE],
        ),
    ],
    start: Annotated[
        str | None,
        Query(
            alias="from",
            pattern=MONTH_PATTERN,
            description="First month (YYYY-MM), included; default: two before `to`",
            examples=["2026-08"],
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            alias="to",
            pattern=MONTH_PATTERN,
            description="Last month (YYYY-MM), included; default: the last complete month "
            f"(at most {MAX_MONTHS} months in all)",
            examples=["2026-10"],
        ),
    ] = None,
) -> AreaEvidence:
    """Police-recorded and resident-reported counts inside any area, by category and
    month, for a period of whole months (default: the last three complete ones), the
    months just before and the same months a year earlier, with what is significantly
    rising. For agency officers, admins and the coordinators of verified groups.
    Residents' reports are counted by their snapped point and rounded (two significant
    figures, `"<10"` under ten) so that no set of areas locates a reporter; police
    points are public and counted exactly. Rate limited per user."""
    await service.require_area_access(session, user)
    months = months_asked(start, end, utcnow().date())
    limits = groups_service.area_limits(request.app.state.settings, user)
    shape = checked_area("area", _area(area), limits)
    return await service.area_stats(session, shape, months)
