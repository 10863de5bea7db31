"""Corroborated reports over HTTP: similar reports before submitting, and clusters for
moderators. Included before the incidents router, whose `/incidents/{incident_id}`
would otherwise take `/incidents/similar`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request

from app.auth.deps import CurrentUser
from app.categories import Category
from app.db import SessionDep, utcnow
from app.geo.schemas import NEAR_PATTERN
from app.incidents import cluster_service
from app.incidents.schemas import (
    ClusterRead,
    ClusterSummary,
    ClusterTransitionRequest,
    ClusterTransitionResult,
    IncidentRead,
)
from app.middleware import client_address
from app.pagination import CursorParam, LimitParam, Page
from app.problems import invalid
from app.ratelimit import HOUR, Rate, RateLimiter
from app.routing import make_router, problem_responses
from app.schemas import Instant
from app.settings import Settings

router = make_router(prefix="/v1", tags=["incidents"], responses=problem_responses(401))


async def _limit_similar(request: Request, user: CurrentUser) -> None:
    """Per user and per client address: each answer says what lies near a point."""
    settings: Settings = request.app.state.settings
    limiter: RateLimiter = request.app.state.limiter
    per_user = Rate(settings.similar_per_user_per_hour, HOUR)
    per_address = Rate(settings.similar_per_address_per_hour, HOUR)
    await limiter.take(
        per_user, f"incident-similar:{user.id}", f"At most {per_user.amount} searches an hour."
    )
    await limiter.take(
        per_address,
        f"incident-similar:address:{client_address(request)}",
        f"At most {per_address.amount} searches an hour from one address.",
    )


def _point(location: str) -> tuple[float, float]:
    try:
        lon_text, lat_text = location.split(",")
        lon, lat = float(lon_text), float(lat_text)
    except ValueError:
        raise invalid("location", "must be `lon,lat` in decimal degrees") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise invalid("location", "longitude must be in [-180, 180] and latitude in [-90, 90]")
    return lon, lat


@router.get(
    "/incidents/similar",
    response_model=Page[IncidentRead],
    responses=problem_responses(429),
    dependencies=[Depends(_limit_similar)],
)
async def list_similar_incidents(
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    category: Category,
    location: Annotated[
        str,
        Query(
            pattern=NEAR_PATTERN,
            description="`lon,lat` of the report about to be made; only the snapped grid "
            "cell it lies in is used",
            examples=["-0.1276,51.5072"],
        ),
    ],
    occurred_at: Annotated[
        Instant | None, Query(description="When it happened (default: now)")
    ] = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Page[IncidentRead]:
    """Before submitting: open reports of the category, near the place and time, that a
    new report could join (its cluster), so that the reporter may add a sighting
    (`POST /v1/incidents/{id}/updates`) instead. Matched on snapped points only — every
    point of one grid cell gets the same answer — among the reports the caller may see,
    shown as members see them: the snapped point, no reporter, no cluster. Newest first.
    Submitting anyway joins the cluster."""
    return await cluster_service.similar(
        session,
        request.app.state.settings,
        user,
        category,
        _point(location),
        occurred_at or utcnow(),
        limit,
        cursor,
    )


@router.get(
    "/incident-clusters",
    response_model=Page[ClusterSummary],
    responses=problem_responses(403, 404),
)
async def list_incident_clusters(
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    group_id: Annotated[
        uuid.UUID | None,
        Query(description="Clusters with a report inside this group's area that you moderate"),
    ] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[ClusterSummary]:
    """Corroborated reports: clusters of reports the caller moderates, newest first,
    counted among those reports alone (an admin's, among all). For moderators only: a
    verified group's coordinators and owner (403 for an unverified group's), agency
    officers, admins."""
    return await cluster_service.list_clusters(
        session, request.app.state.settings, user, group_id, limit, cursor
    )


@router.get(
    "/incident-clusters/{cluster_id}",
    response_model=ClusterRead,
    responses=problem_responses(403, 404),
)
async def read_incident_cluster(
    cluster_id: uuid.UUID, user: CurrentUser, session: SessionDep, request: Request
) -> ClusterRead:
    """A cluster as the caller may know it: for anyone but an admin, counted and listed
    among the reports they moderate alone, and shown only when those link to each other
    directly (a report they may not see never shows in a size, a count or a chain);
    404 when that leaves no cluster, 403 for non-moderators."""
    return await cluster_service.read_cluster(session, request.app.state.settings, user, cluster_id)


@router.post(
    "/incident-clusters/{cluster_id}/transitions",
    response_model=ClusterTransitionResult,
    responses=problem_responses(403, 404, 409),
)
async def transition_incident_cluster(
    cluster_id: uuid.UUID,
    data: ClusterTransitionRequest,
    user: CurrentUser,
    session: SessionDep,
    request: Request,
) -> ClusterTransitionResult:
    """Verify or reject a whole cluster in one transition: every member still
    `submitted` of those the caller moderates moves (those no longer `submitted` are
    listed as `skipped`; reports they do not moderate are not named at all); 409 when
    none can. Each reporter is told of their own report; the people around
    hear of the cluster's verification once (one `incident.verified`), not once per
    report."""
    return await cluster_service.transition_cluster(
        session, request.app.state.settings, user, cluster_id, data
    )
