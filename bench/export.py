"""GET /v1/me/export for a busy account: how long it takes to build and what it weighs.

The account is two years of heavy use: 20 phones, 10 places, 40 groups, 500 reports (two
status changes each, a photo on every other one: 250 photos of ~150 KB), 1,000 updates,
2,000 acknowledgements, 50 alerts issued, 200 sign-ins, 20,000 pushes and 20,000 realtime
events. Seeded with Core inserts on a fresh migrated database; then, in the same run:

- the floor: the same rows read by bare Core SELECTs (tuples, no models) and dumped with
  json.dumps, which any export must at least do;
- the export as the endpoint builds it (`app.privacy.export.build`, then its JSON), and
  the ZIP with the photos (`write_zip`, photos read from a local media store).

    .venv/bin/python -m bench.export [--backends sqlite,postgres] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Ack, Alert, Place, Preferences
from app.auth.models import RefreshToken, User
from app.db import create_engine, create_sessionmaker
from app.devices.models import Device
from app.groups.models import Group, Membership
from app.incidents.media import LocalMediaStore, Media
from app.incidents.models import Incident, IncidentUpdate, StatusChange
from app.outbox.models import OutboxEvent
from app.privacy import export
from app.push.models import Delivery
from app.realtime.models import LoggedEvent
from app.settings import Settings
from bench.common import scratch_database

LONDON = (-0.1276, 51.5072)
PHOTO_BYTES = 150_000


def _id() -> uuid.UUID:
    return uuid.uuid4()


async def seed(session: AsyncSession, store: LocalMediaStore) -> uuid.UUID:
    rng = random.Random(7)
    now = datetime.now(UTC)
    me = _id()
    await session.execute(
        insert(User),
        [{"id": me, "email": "busy@example.org", "display_name": "Busy Resident"}],
    )
    await session.execute(
        insert(Device),
        [
            {"id": _id(), "user_id": me, "fcm_token": f"busy-{n}-" + "t" * 140,
             "platform": "android"}
            for n in range(20)
        ],
    )  # fmt: skip
    await session.execute(
        insert(Place),
        [
            {"id": _id(), "user_id": me, "label": f"Place {n}", "lon": LONDON[0] + n / 1000,
             "lat": LONDON[1], "radius_m": 300.0}
            for n in range(10)
        ],
    )  # fmt: skip
    await session.execute(insert(Preferences), [{"user_id": me, "muted_categories": []}])
    groups = [_id() for _ in range(40)]
    area = {"type": "Point", "coordinates": list(LONDON), "radius_m": 1_000}
    await session.execute(
        insert(Group),
        [
            {"id": g, "name": f"Group {n}", "area": area, "visibility": "public",
             "join_policy": "open"}
            for n, g in enumerate(groups)
        ],
    )  # fmt: skip
    await session.execute(
        insert(Membership),
        [{"group_id": g, "user_id": me, "status": "active"} for g in groups],
    )
    reports = [_id() for _ in range(500)]
    await session.execute(
        insert(Incident),
        [
            {"id": r, "reporter_id": me, "category": "burglary", "description": "d" * 400,
             "occurred_at": now - timedelta(days=n), "lon": LONDON[0], "lat": LONDON[1],
             "snapped_lon": LONDON[0], "snapped_lat": LONDON[1]}
            for n, r in enumerate(reports)
        ],
    )  # fmt: skip
    await session.execute(
        insert(StatusChange),
        [
            {"id": _id(), "incident_id": r, "from_status": a, "to_status": b, "note": "n" * 80}
            for r in reports
            for a, b in (("submitted", "verified"), ("verified", "resolved"))
        ],
    )  # fmt: skip
    photos = []
    for r in reports[::2]:
        key = uuid.uuid4().hex
        store.save(key, rng.randbytes(PHOTO_BYTES))
        photos.append(
            {"id": _id(), "incident_id": r, "uploader_id": me, "content_type": "image/jpeg",
             "size": PHOTO_BYTES, "width": 2560, "height": 1920, "storage_key": key}
        )  # fmt: skip
    await session.execute(insert(Media), photos)
    await session.execute(
        insert(IncidentUpdate),
        [
            {"id": _id(), "incident_id": reports[n % 500], "author_id": me, "text": "u" * 200}
            for n in range(1_000)
        ],
    )  # fmt: skip
    alerts = [_id() for _ in range(50)]
    await session.execute(
        insert(Alert),
        [
            {"id": a, "chain_id": a, "title": "t" * 60, "body": "b" * 600, "category": "burglary",
             "severity": "moderate", "urgency": "expected", "certainty": "observed",
             "status": "actual", "area": area, "issuer_id": me, "issuer_kind": "coordinator",
             "issuer_name": "Busy Resident", "expires_at": now + timedelta(days=1)}
            for a in alerts
        ],
    )  # fmt: skip
    await session.execute(
        insert(Ack),
        [
            {"id": _id(), "chain_id": alerts[n % 50], "alert_id": alerts[n % 50], "user_id": me,
             "kind": ("seen", "acted", "dismissed")[n // 50 % 3]}
            for n in range(150)
        ]
        + [
            # Acks of other chains (the alerts she got): chain ids need not exist.
            {"id": _id(), "chain_id": _id(), "alert_id": alerts[0], "user_id": me,
             "kind": "seen"}
            for _ in range(1_850)
        ],
    )  # fmt: skip
    await session.execute(
        insert(RefreshToken),
        [
            {"id": _id(), "user_id": me, "family_id": _id(), "token_hash": uuid.uuid4().hex * 2,
             "expires_at": now + timedelta(days=30)}
            for _ in range(200)
        ],
    )  # fmt: skip
    events = [_id() for _ in range(20_000)]
    for start in range(0, len(events), 2_000):
        chunk = events[start : start + 2_000]
        await session.execute(
            insert(OutboxEvent),
            [
                {"id": e, "event_type": "alert.issued", "payload": {}, "state": "done"}
                for e in chunk
            ],
        )
        await session.execute(
            insert(Delivery),
            [
                {"id": _id(), "delivery_key": f"{e}:{me}", "event_id": e,
                 "event_type": "alert.issued", "subject_id": e, "user_id": me, "state": "sent"}
                for e in chunk
            ],
        )  # fmt: skip
        await session.execute(
            insert(LoggedEvent),
            [
                {"event_id": e, "user_id": me, "user_seq": start + n + 1,
                 "event_type": "alert.issued"}
                for n, e in enumerate(chunk)
            ],
        )  # fmt: skip
    return me


FLOOR_TABLES: list[tuple[Any, Any]] = [
    (Device.__table__, Device.__table__.c.user_id),
    (Place.__table__, Place.__table__.c.user_id),
    (Membership.__table__, Membership.__table__.c.user_id),
    (Incident.__table__, Incident.__table__.c.reporter_id),
    (IncidentUpdate.__table__, IncidentUpdate.__table__.c.author_id),
    (Media.__table__, Media.__table__.c.uploader_id),
    (Ack.__table__, Ack.__table__.c.user_id),
    (Alert.__table__, Alert.__table__.c.issuer_id),
    (RefreshToken.__table__, RefreshToken.__table__.c.user_id),
    (Delivery.__table__, Delivery.__table__.c.user_id),
    (LoggedEvent.__table__, LoggedEvent.__table__.c.user_id),
]


async def floor(session: AsyncSession, me: uuid.UUID) -> int:
    """The same rows, read as tuples and dumped: what any export costs at least."""
    rows: list[list[Any]] = []
    for table, owner in FLOOR_TABLES:
        rows += [list(r) for r in (await session.execute(select(table).where(owner == me))).all()]
    changes = StatusChange.__table__
    reported = select(Incident.__table__.c.id).where(Incident.__table__.c.reporter_id == me)
    rows += [
        list(r)
        for r in (
            await session.execute(select(changes).where(changes.c.incident_id.in_(reported)))
        ).all()
    ]
    return len(json.dumps(rows, default=str))


async def run(backend: str, runs: int) -> None:
    async with scratch_database(backend) as url:
        settings = Settings(database_url=url, jwt_secret=SecretStr("b" * 32))
        engine = create_engine(settings)
        sessions = create_sessionmaker(engine)
        with tempfile.TemporaryDirectory() as media_dir:
            store = LocalMediaStore(Path(media_dir))
            async with sessions() as session, session.begin():
                me = await seed(session, store)
            floors, builds, zips = [], [], []
            size = zip_size = 0
            for _ in range(runs):
                async with sessions() as session:
                    t0 = time.perf_counter()
                    await floor(session, me)
                    floors.append(time.perf_counter() - t0)
                async with sessions() as session:
                    user = await session.get(User, me)
                    assert user is not None
                    t0 = time.perf_counter()
                    document = await export.build(session, user)
                    size = len(json.dumps(document.model_dump(mode="json")))
                    builds.append(time.perf_counter() - t0)
                    photos = await export.photos_of(session, user)
                    t0 = time.perf_counter()
                    file = await asyncio.to_thread(export.write_zip, document, photos, store.load)
                    zips.append(time.perf_counter() - t0)
                    file.seek(0, 2)
                    zip_size = file.tell()
                    file.close()
        await engine.dispose()
    f, b, z = (statistics.median(x) * 1000 for x in (floors, builds, zips))
    print(f"[{backend}] floor (Core SELECTs + json.dumps of the same rows): {f:.0f} ms")
    print(
        f"[{backend}] export JSON: {b:.0f} ms, {size / 1e6:.1f} MB; ratio to the floor {b / f:.1f}x"
    )
    print(f"[{backend}] ZIP with 250 photos: {z:.0f} ms more, {zip_size / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        asyncio.run(run(backend, args.runs))


if __name__ == "__main__":
    main()
