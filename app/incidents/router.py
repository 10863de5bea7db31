from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import Header, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.auth.client_deps import ClientCaller, IncidentsReader, IncidentsWriter
from app.auth.deps import CurrentUser, rate_limit
from app.auth.models import User
from app.categories import LABELS, Category
from app.db import SessionDep
from app.geo.schemas import BBOX_PATTERN
from app.incidents import client_access, service
from app.incidents.intake import ReportIntake
from app.incidents.media import Media, PhotoCleaner, attach
from app.incidents.models import IncidentStatus
from app.incidents.schemas import (
    CategoryRead,
    IncidentCreate,
    IncidentFeatureCollection,
    IncidentRead,
    StatusChangeRead,
    TransitionRequest,
    UpdateCreate,
    UpdateRead,
)
from app.middleware import client_address
from app.openapi import component
from app.pagination import CursorParam, LimitParam, Page
from app.problems import Problem, forbidden, invalid, not_found
from app.ratelimit import HOUR, Rate
from app.routing import make_router, negotiate, problem_responses

router = make_router(prefix="/v1", tags=["incidents"], responses=problem_responses(401))
GEOJSON = "application/geo+json"
PHOTO_UPLOAD_PATH = r"^/v1/incidents/[^/]+/media$"


class MediaRead(BaseModel):
    id: uuid.UUID
    content_type: str
    size: int
    width: int
    height: int
    url: str


BBoxParam = Annotated[
    str | None,
    Query(
        pattern=BBOX_PATTERN,
        description="`minlon,minlat,maxlon,maxlat` in decimal degrees, each min at most its "
        "max (a box across the antimeridian is not supported)",
        examples=["-0.15,51.49,-0.10,51.52"],
    ),
]


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        west, south, east, north = (float(v) for v in value.split(","))
    except ValueError:
        raise invalid("bbox", "must be minlon,minlat,maxlon,maxlat") from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise invalid("bbox", "must be minlon,minlat,maxlon,maxlat within the world, min <= max")
    return west, south, east, north


@router.get("/incident-categories", response_model=list[CategoryRead], tags=["incidents"])
async def list_incident_categories() -> list[CategoryRead]:
    """The category taxonomy (aligned with police.uk)."""
    return [CategoryRead(id=c, label=LABELS[c]) for c in Category]


@router.post(
    "/incidents",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentRead,
    responses=problem_responses(403, 429),
)
async def submit_incident(
    data: IncidentCreate,
    caller: IncidentsWriter,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=128, description="Makes retries safe: same key, same answer"),
    ] = None,
) -> JSONResponse:
    """Report an incident. Retries with the same Idempotency-Key get the original answer.
    An API client with `incidents:write` files on behalf of a resident who is no user:
    the report has no reporter, lies inside the client's jurisdiction (403 otherwise),
    and counts against the client's own limit."""
    intake: ReportIntake = request.app.state.incident_intake
    address = client_address(request)
    if isinstance(caller, ClientCaller):
        client_access.check_client_may_report(caller.client, data)
        answer = await intake.submit(None, data, idempotency_key, address, caller.client.id)
    else:
        answer = await intake.submit(caller.user_id, data, idempotency_key, address)
    return JSONResponse(answer, status_code=status.HTTP_201_CREATED)


@router.get(
    "/incidents",
    response_model=Page[IncidentRead],
    responses={
        200: {
            "description": "A page of reports: JSON, or with `Accept: application/geo+json` "
            "a GeoJSON FeatureCollection",
            "content": {GEOJSON: {"schema": component(IncidentFeatureCollection)}},
        },
        **problem_responses(403, 404, 429),
    },
)
async def list_incidents(
    caller: IncidentsReader,
    session: SessionDep,
    request: Request,
    group_id: Annotated[
        uuid.UUID | None,
        Query(description="Reports inside this group's area; 404 if you cannot see the group"),
    ] = None,
    bbox: BBoxParam = None,
    category: Category | None = None,
    status_filter: Annotated[IncidentStatus | None, Query(alias="status")] = None,
    since: Annotated[date | None, Query(description="Reported on or after this day")] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[IncidentRead] | JSONResponse:
    """Reports the caller may see, newest first. `Accept: application/geo+json` gives the
    page as a GeoJSON FeatureCollection, for a map. An API client with `incidents:read`
    lists the reports inside its jurisdiction: as its agency officer sees them for an
    officer's client, else snapped and with no reporter."""
    filters = service.IncidentFilters(
        group_id=group_id,
        bbox=_bbox(bbox),
        category=category,
        status=status_filter,
        since=datetime.combine(since, time(), UTC) if since else None,
    )
    if isinstance(caller, User):
        page = await service.list_incidents(
            session, request.app.state.settings, caller, filters, limit, cursor
        )
    else:
        page = await client_access.list_incidents_for_client(
            session, caller.client, filters, limit, cursor
        )
    if negotiate(request, "application/json", GEOJSON) == GEOJSON:
        collection = IncidentFeatureCollection.of(page.items, page.next_cursor)
        return JSONResponse(collection.model_dump(mode="json"), media_type=GEOJSON)
    return page


@router.get(
    "/incidents/{incident_id}", response_model=IncidentRead, responses=problem_responses(403, 429)
)
async def read_incident(
    incident_id: uuid.UUID, caller: IncidentsReader, session: SessionDep, request: Request
) -> IncidentRead:
    """One report the caller may see, its location and reporter shown as the caller may
    see them (exact or snapped; named or not); for an API client with `incidents:read`,
    as it lists them."""
    if not isinstance(caller, User):
        return await client_access.read_incident_for_client(session, caller.client, incident_id)
    incident, viewer = await service.load_incident(session, caller, incident_id)
    return await service.incident_read(
        session, incident, viewer, caller, request.app.state.settings
    )


@router.post(
    "/incidents/{incident_id}/transitions",
    response_model=IncidentRead,
    responses=problem_responses(403, 409),
)
async def transition_incident(
    incident_id: uuid.UUID,
    data: TransitionRequest,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
) -> IncidentRead:
    """Moderate: submitted → verified | rejected, verified → forwarded | resolved,
    forwarded → resolved."""
    incident, viewer = await service.load_incident(session, user, incident_id)
    incident = await service.transition(session, user, incident, viewer, data)
    return await service.incident_read(session, incident, viewer, user, request.app.state.settings)


@router.get(
    "/incidents/{incident_id}/history",
    response_model=list[StatusChangeRead],
    responses=problem_responses(403),
)
async def read_incident_history(
    incident_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[StatusChangeRead]:
    """Status changes, who made them and when (moderators)."""
    incident, viewer = await service.load_incident(session, user, incident_id)
    return await service.history(session, viewer, incident)


@router.post(
    "/incidents/{incident_id}/updates",
    status_code=status.HTTP_201_CREATED,
    response_model=UpdateRead,
    responses=problem_responses(429),
    dependencies=[
        rate_limit(
            "incident-updates",
            lambda s, _: Rate(s.incident_updates_per_user_per_hour, HOUR),
            "updates",
        )
    ],
)
async def add_incident_update(
    incident_id: uuid.UUID, data: UpdateCreate, user: CurrentUser, session: SessionDep
) -> UpdateRead:
    """Add a sighting or follow-up to a report you can see."""
    incident, viewer = await service.load_incident(session, user, incident_id)
    entry = await service.add_update(session, user, incident, data)
    return service.update_read(entry, incident, viewer, {user.id: user.display_name})


@router.get("/incidents/{incident_id}/updates", response_model=Page[UpdateRead])
async def list_incident_updates(
    incident_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[UpdateRead]:
    """Sightings and follow-ups on a report the caller may see, newest first."""
    incident, viewer = await service.load_incident(session, user, incident_id)
    return await service.list_updates(session, incident, viewer, limit, cursor)


def _photo_cleaner(request: Request) -> PhotoCleaner:
    """The app's one cleaner (its decode limit is per process), made on first use."""
    state = request.app.state
    if getattr(state, "photo_cleaner", None) is None:
        state.photo_cleaner = PhotoCleaner.of(state.settings)
    cleaner: PhotoCleaner = state.photo_cleaner
    return cleaner


@router.post(
    "/incidents/{incident_id}/media",
    status_code=status.HTTP_201_CREATED,
    response_model=MediaRead,
    responses=problem_responses(403, 409, 413, 415),
)
async def upload_incident_photo(
    incident_id: uuid.UUID,
    file: UploadFile,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
) -> MediaRead:
    """Attach a photo (JPEG, PNG, WebP or HEIC, judged by content). Every piece of
    metadata, above all GPS, is removed before it is stored. A photo of more than
    `NW_MAX_PHOTO_MEGAPIXELS` (default 50) is refused (413, `too-many-pixels`) from its
    header, before decoding; one larger than `NW_PHOTO_MAX_SIDE_PX` (default 2560) on its
    long side is stored downscaled to it (the answer gives the stored size)."""
    settings = request.app.state.settings
    incident, viewer = await service.load_incident(session, user, incident_id)
    if not (viewer.reporter or viewer.moderator):
        raise forbidden("Only the reporter and moderators add photos to a report.")
    raw = await file.read(settings.max_photo_bytes + 1)
    if len(raw) > settings.max_photo_bytes:
        raise Problem(
            413, f"A photo may be at most {settings.max_photo_bytes} bytes.", kind="body-too-large"
        )
    media = await attach(
        session,
        request.app.state.media_store,
        incident.id,
        user.id,
        raw,
        settings.max_photos_per_incident,
        _photo_cleaner(request),
    )
    return MediaRead(
        id=media.id,
        content_type=media.content_type,
        size=media.size,
        width=media.width,
        height=media.height,
        url=f"/v1/media/{media.id}",
    )


@router.get(
    "/media/{media_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
async def read_media(
    media_id: uuid.UUID, user: CurrentUser, session: SessionDep, request: Request
) -> Response:
    """A photo, to those who may see its report."""
    media = await session.get(Media, media_id)
    if media is None:
        raise not_found("photo")
    try:
        await service.load_incident(session, user, media.incident_id)
    except Problem as exc:
        raise not_found("photo") from exc
    data = request.app.state.media_store.load(media.storage_key)
    return Response(
        data, media_type=media.content_type, headers={"Cache-Control": "private, max-age=3600"}
    )
