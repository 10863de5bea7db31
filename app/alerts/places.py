"""Places (what a resident watches) and alert preferences. Both are private to their owner."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts.models import Place, Preferences, Severity
from app.alerts.schemas import (
    PlaceCreate,
    PlaceRead,
    PlaceUpdate,
    PreferencesBody,
    PreferencesRead,
    QuietHours,
)
from app.auth.models import User
from app.geo.index import index_for
from app.geo.shapes import Circle
from app.pagination import Page, newest_first, page_of
from app.problems import conflict, not_found

GEO_COLLECTION = "place"
MAX_PLACES = 10


def place_read(place: Place) -> PlaceRead:
    return PlaceRead(
        id=place.id,
        label=place.label,
        radius_m=place.radius_m,
        created_at=place.created_at,
        location={"type": "Point", "coordinates": [place.lon, place.lat]},
    )


def place_shape(place: Place) -> Circle:
    return Circle(place.lon, place.lat, place.radius_m)


async def create_place(session: AsyncSession, user: User, data: PlaceCreate) -> Place:
    count = await session.scalar(
        select(func.count()).select_from(Place).where(col(Place.user_id) == user.id)
    )
    if (count or 0) >= MAX_PLACES:
        raise conflict(f"You can watch at most {MAX_PLACES} places.", kind="too-many-places")
    lon, lat = data.location.coordinates
    place = Place(user_id=user.id, label=data.label, lon=lon, lat=lat, radius_m=data.radius_m)
    session.add(place)
    await session.flush()
    await index_for(session).put(
        session, GEO_COLLECTION, place.id, place_shape(place), owner_id=place.user_id
    )
    return place


async def own_place(session: AsyncSession, user: User, place_id: uuid.UUID) -> Place:
    place = await session.get(Place, place_id)
    if place is None or place.user_id != user.id:
        raise not_found("place")
    return place


async def update_place(
    session: AsyncSession, user: User, place_id: uuid.UUID, data: PlaceUpdate
) -> Place:
    place = await own_place(session, user, place_id)
    if data.label is not None:
        place.label = data.label
    if data.location is not None:
        place.lon, place.lat = data.location.coordinates
    if data.radius_m is not None:
        place.radius_m = data.radius_m
    await session.flush()
    await index_for(session).put(
        session, GEO_COLLECTION, place.id, place_shape(place), owner_id=place.user_id
    )
    return place


async def delete_place(session: AsyncSession, user: User, place_id: uuid.UUID) -> None:
    place = await own_place(session, user, place_id)
    await index_for(session).remove(session, GEO_COLLECTION, place.id)
    await session.delete(place)
    await session.flush()


async def list_places(
    session: AsyncSession, user: User, limit: int, cursor: str | None
) -> Page[PlaceRead]:
    stmt = newest_first(
        select(Place).where(col(Place.user_id) == user.id),
        col(Place.created_at),
        col(Place.id),
        cursor,
        limit,
    )
    rows = list((await session.execute(stmt)).scalars().all())
    return page_of(rows, limit, lambda p: (p.created_at, p.id), place_read)


async def user_places(session: AsyncSession, user_id: uuid.UUID) -> list[Place]:
    return list(
        (await session.execute(select(Place).where(col(Place.user_id) == user_id))).scalars().all()
    )


def preferences_read(prefs: Preferences | None) -> PreferencesRead:
    if prefs is None:
        return PreferencesRead(muted_categories=[], min_severity=Severity.minor, quiet_hours=None)
    quiet = None
    if prefs.quiet_start and prefs.quiet_end and prefs.quiet_timezone:
        quiet = QuietHours(
            start=prefs.quiet_start, end=prefs.quiet_end, timezone=prefs.quiet_timezone
        )
    return PreferencesRead.model_validate(
        {
            "muted_categories": prefs.muted_categories,
            "min_severity": prefs.min_severity,
            "quiet_hours": quiet,
        }
    )


async def get_preferences(session: AsyncSession, user: User) -> PreferencesRead:
    return preferences_read(await session.get(Preferences, user.id))


async def put_preferences(
    session: AsyncSession, user: User, data: PreferencesBody
) -> PreferencesRead:
    prefs = await session.get(Preferences, user.id)
    if prefs is None:
        prefs = Preferences(user_id=user.id)
        session.add(prefs)
    prefs.muted_categories = sorted({c.value for c in data.muted_categories})
    prefs.min_severity = data.min_severity.value
    quiet = data.quiet_hours
    prefs.quiet_start = quiet.start if quiet else None
    prefs.quiet_end = quiet.end if quiet else None
    prefs.quiet_timezone = quiet.timezone if quiet else None
    await session.flush()
    return preferences_read(prefs)
