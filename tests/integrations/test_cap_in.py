"""Agencies' CAP feeds taken in as alerts: Atom and RSS indexes and single documents,
polled over real HTTP; Alert, Update and Cancel as one chain; areas as CAP draws them;
one alert however often or through however many sources a document comes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from app.auth.models import User
from app.integrations.cap_in.ingest import SYSTEM_EMAIL
from app.outbox.models import OutboxEvent
from tests.alerts.factories import LONDON, new_agency, watch
from tests.auth.factories import Account, new_account, new_admin
from tests.fakes.cap_feed import FeedServer
from tests.integrations.cap_factories import (
    RING,
    RING_EAST,
    SENDER,
    Cap,
    CapArea,
    atom_index,
    cap_document,
    circle_area,
    documents,
    logged,
    new_cap,
    poller_for,
    polygon,
    polygon_area,
    register,
    rss_index,
    soon,
)

AppClient = tuple[FastAPI, httpx.AsyncClient]


async def read_alert(client: httpx.AsyncClient, admin: Account, alert_id: str) -> dict[str, Any]:
    answer = await client.get(f"/v1/alerts/{alert_id}", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def poll(app: FastAPI, at: datetime | None = None) -> int:
    async with poller_for(app) as poller:
        return await poller.poll_due(at or soon())


async def test_an_atom_index_becomes_alerts_for_the_people_in_their_areas(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    resident = await new_account(client)
    await watch(client, resident, LONDON)
    first, second = new_cap(), new_cap()
    links = [
        feed.put("/cap/1.xml", cap_document(first, headline="Flooding by the bridge")),
        # A relative link, as feeds often write them.
        feed.put("/cap/2.xml", cap_document(second, headline="Road closed", severity="Minor")),
    ]
    feed.put("/feed.atom", atom_index([links[0], "/cap/2.xml"]), "application/atom+xml")
    source = await register(client, admin, feed.url("/feed.atom"), name="Riverside Council")

    assert await poll(app) == 1
    docs = await logged(client, admin, source["id"])
    assert sorted(d["outcome"] for d in docs) == ["accepted", "accepted"]
    assert {d["identifier"] for d in docs} == {first.identifier, second.identifier}
    alert = await read_alert(
        client, admin, next(d["alert_id"] for d in docs if d["identifier"] == first.identifier)
    )
    assert (alert["title"], alert["severity"], alert["urgency"], alert["certainty"]) == (
        "Flooding by the bridge", "severe", "immediate", "observed",
    )  # fmt: skip
    assert alert["body"] == "The river has burst its banks by the bridge."
    assert alert["actions"] == [
        {"action_id": None, "text": "Move valuables upstairs", "url": None},
        {"action_id": None, "text": "Check on neighbours", "url": None},
    ]
    assert alert["category"] == "burglary"
    # Shown under the source's name, issued as the feeds' system account...
    assert alert["issuer"]["display_name"] == "Riverside Council"
    async with app.state.sessionmaker() as session:
        account = await session.get(User, uuid.UUID(alert["issuer"]["id"]))
    assert account is not None
    assert account.email == SYSTEM_EMAIL
    # ...which nobody signs in as, and which is no admin (the last admin stays the last).
    assert (account.role, account.password_hash, account.firebase_uid) == ("resident", None, None)
    demoted = await client.patch(
        f"/v1/admin/users/{admin.id}", headers=admin.headers, json={"role": "resident"}
    )
    assert demoted.status_code == 409
    # Told to the world as an officer's alert is: an outbox event per alert...
    async with app.state.sessionmaker() as session:
        events = (
            (
                await session.execute(
                    select(OutboxEvent).where(col(OutboxEvent.event_type) == "alert.issued")
                )
            )
            .scalars()
            .all()
        )
    assert {e.payload["alert_id"] for e in events} == {d["alert_id"] for d in docs}
    # ...and the resident watching the area has them.
    mine = await client.get("/v1/alerts", headers=resident.headers)
    assert {a["id"] for a in mine.json()["items"]} == {d["alert_id"] for d in docs}
    # The index is read again next time; the documents already taken in are not fetched.
    feed.put("/feed.atom", atom_index([*links, "/cap/2.xml"]) + b" ", "application/atom+xml")
    assert await poll(app, soon(120)) == 1
    assert len(feed.requests_to("/cap/1.xml")) == 1
    assert len(await logged(client, admin, source["id"])) == 2


@pytest.mark.parametrize("enclosures", [False, True], ids=["link", "enclosure"])
async def test_an_rss_index_becomes_alerts(
    cap_app: AppClient, feed: FeedServer, enclosures: bool
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    caps = [new_cap(), new_cap()]
    links = [feed.put(f"/rss/{i}.xml", cap_document(c)) for i, c in enumerate(caps)]
    feed.put("/feed.rss", rss_index(links, enclosures=enclosures), "application/rss+xml")
    source = await register(client, admin, feed.url("/feed.rss"))
    assert await poll(app) == 1
    docs = await logged(client, admin, source["id"])
    assert sorted((d["identifier"], d["outcome"]) for d in docs) == sorted(
        (c.identifier, "accepted") for c in caps
    )


async def test_alert_update_and_cancel_make_one_chain(cap_app: AppClient, feed: FeedServer) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    original = new_cap()
    feed.put("/alert.xml", cap_document(original, headline="Gas leak on Mill Lane"))
    source = await register(client, admin, feed.url("/alert.xml"))
    await poll(app)
    [issued] = await logged(client, admin, source["id"])
    first = await read_alert(client, admin, issued["alert_id"])
    assert (first["msg_type"], first["version"], first["active"]) == ("alert", 1, True)

    update = new_cap(sent=original.sent + timedelta(seconds=30))
    feed.put(
        "/alert.xml",
        cap_document(
            update,
            msg_type="Update",
            references=(original,),
            headline="Gas leak on Mill Lane: evacuate",
            severity="Extreme",
            areas=[polygon_area()],
        ),
    )
    await poll(app, soon(120))
    updated_doc = (await logged(client, admin, source["id"], outcome="accepted"))[0]
    updated = await read_alert(client, admin, updated_doc["alert_id"])
    assert (updated["msg_type"], updated["version"], updated["references"]) == (
        "update", 2, first["id"],
    )  # fmt: skip
    assert (updated["title"], updated["severity"]) == ("Gas leak on Mill Lane: evacuate", "extreme")
    assert updated["area"]["type"] == "Polygon"

    cancel = new_cap(sent=original.sent + timedelta(seconds=60))
    feed.put(
        "/alert.xml",
        cap_document(
            cancel,
            msg_type="Cancel",
            references=(original, update),
            description="The leak is fixed; you may go home.",
        ),
    )
    await poll(app, soon(240))
    cancelled_doc = (await logged(client, admin, source["id"], outcome="accepted"))[0]
    cancelled = await read_alert(client, admin, cancelled_doc["alert_id"])
    assert (cancelled["msg_type"], cancelled["version"], cancelled["references"]) == (
        "cancel", 3, updated["id"],
    )  # fmt: skip
    assert cancelled["body"] == "The leak is fixed; you may go home."
    assert not cancelled["active"]
    assert not (await read_alert(client, admin, updated["id"]))["active"]
    # A second cancel of what is over is refused, and says why.
    late = new_cap(sent=original.sent + timedelta(seconds=90))
    feed.put("/alert.xml", cap_document(late, msg_type="Cancel", references=(update,)))
    await poll(app, soon(360))
    [refused] = await logged(client, admin, source["id"], outcome="refused")
    assert refused["reason"] == "the alert it references is over"


@pytest.mark.parametrize(
    ("areas", "expected"),
    [
        ([polygon_area()], {"type": "Polygon", "coordinates": [[list(p)[::-1] for p in RING]]}),
        (
            [circle_area(51.5072, -0.1276, 1.5)],
            {"type": "Point", "coordinates": [-0.1276, 51.5072], "radius_m": 1500.0},
        ),
        (
            [polygon_area(), CapArea("East", polygons=(polygon(RING_EAST),))],
            {
                "type": "MultiPolygon",
                "coordinates": [
                    [[list(p)[::-1] for p in RING]],
                    [[list(p)[::-1] for p in RING_EAST]],
                ],
            },
        ),
    ],
    ids=["polygon", "circle", "two-areas"],
)
async def test_areas_are_read_in_caps_lat_lon_order(
    cap_app: AppClient, feed: FeedServer, areas: list[CapArea], expected: dict[str, Any]
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    feed.put("/a.xml", cap_document(new_cap(), areas=areas))
    source = await register(client, admin, feed.url("/a.xml"))
    await poll(app)
    [doc] = await logged(client, admin, source["id"])
    assert doc["outcome"] == "accepted", doc
    assert (await read_alert(client, admin, doc["alert_id"]))["area"] == expected


async def test_a_circle_and_a_polygon_make_a_multipolygon_reaching_both(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    near_circle, near_square = await new_account(client), await new_account(client)
    await watch(client, near_circle, (-0.05, 51.52), radius_m=100)
    await watch(client, near_square, (-0.125, 51.505), radius_m=100)
    areas = [circle_area(51.52, -0.05, 0.5), polygon_area()]
    feed.put("/m.xml", cap_document(new_cap(), areas=areas))
    source = await register(client, admin, feed.url("/m.xml"))
    await poll(app)
    [doc] = await logged(client, admin, source["id"])
    alert = await read_alert(client, admin, doc["alert_id"])
    assert alert["area"]["type"] == "MultiPolygon"
    assert len(alert["area"]["coordinates"]) == 2
    for resident in (near_circle, near_square):
        mine = await client.get("/v1/alerts", headers=resident.headers)
        assert [a["id"] for a in mine.json()["items"]] == [alert["id"]]


async def test_one_document_through_two_sources_and_twice_is_one_alert(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    cap = new_cap()
    body = cap_document(cap)
    feed.put("/a/alert.xml", body, etag=False)  # no validator: served whole every time
    feed.put("/b/alert.xml", body)
    feed.put("/b/feed.atom", atom_index([feed.url("/b/alert.xml")]), "application/atom+xml")
    one = await register(client, admin, feed.url("/a/alert.xml"), name="Council")
    other = await register(client, admin, feed.url("/b/feed.atom"), name="Aggregator")
    assert await poll(app) == 2
    await poll(app, soon(120))
    assert len(feed.requests_to("/a/alert.xml")) == 2  # read twice, logged once
    [a] = await logged(client, admin, one["id"])
    [b] = await logged(client, admin, other["id"])
    assert sorted([a["outcome"], b["outcome"]]) == ["accepted", "duplicate"]
    assert a["alert_id"] == b["alert_id"]
    async with app.state.sessionmaker() as session:
        issued = (
            (
                await session.execute(
                    select(OutboxEvent).where(col(OutboxEvent.event_type) == "alert.issued")
                )
            )
            .scalars()
            .all()
        )
    assert len(issued) == 1


async def test_what_is_not_taken_in_is_logged_with_the_reason(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    far = (51.25, -0.35)  # Surrey, outside the allowed area below
    cases = {
        "/invalid.xml": b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
        b"<sender>x</sender></alert>",
        "/impostor.xml": cap_document(new_cap(sender="someone@else.example")),
        "/test.xml": cap_document(new_cap(), status="Test"),
        "/restricted.xml": cap_document(new_cap(), scope="Restricted"),
        "/geocode.xml": cap_document(
            new_cap(), areas=[CapArea("District", geocodes=(("SAME", "006113"),))]
        ),
        "/outside.xml": cap_document(new_cap(), areas=[circle_area(*far, 1.0)]),
        "/expired.xml": cap_document(new_cap(), expires=datetime.now(UTC) - timedelta(hours=1)),
        "/cancel.xml": cap_document(new_cap(), msg_type="Cancel", references=(new_cap(),)),
        "/long.xml": cap_document(new_cap(), expires=datetime.now(UTC) + timedelta(days=30)),
        "/long-id.xml": cap_document(Cap("x" * 300, SENDER, new_cap().sent)),
    }
    for path, body in cases.items():
        feed.put(path, body)
    feed.put("/feed.atom", atom_index([feed.url(p) for p in cases]), "application/atom+xml")
    allowed = {"type": "Point", "coordinates": list(LONDON), "radius_m": 10_000}
    source = await register(client, admin, feed.url("/feed.atom"), trust={"allowed_area": allowed})
    await poll(app)
    by_path = {d["url"].rsplit("/", 1)[1]: d for d in await logged(client, admin, source["id"])}
    outcomes = {path: (d["outcome"], d["reason"]) for path, d in by_path.items()}
    assert outcomes["invalid.xml"][0] == "invalid"
    assert outcomes["invalid.xml"][1].startswith("not valid CAP 1.2")
    assert outcomes["impostor.xml"][0] == "refused"
    assert "someone@else.example" in outcomes["impostor.xml"][1]
    assert outcomes["test.xml"] == ("ignored", "status Test: only Actual alerts are taken in")
    assert outcomes["restricted.xml"][0] == "ignored"
    assert outcomes["geocode.xml"][0] == "unsupported"
    assert "geocode" in outcomes["geocode.xml"][1]
    assert outcomes["outside.xml"] == (
        "refused", "the area is not inside the source's allowed area",
    )  # fmt: skip
    assert outcomes["expired.xml"][0] == "ignored"
    assert outcomes["cancel.xml"] == ("ignored", "cancels no alert taken in here")
    assert outcomes["long-id.xml"] == (
        "unsupported", "identifier or sender longer than 255 characters",
    )  # fmt: skip
    # Beyond our seven days: taken in, clamped, and the log says so.
    assert outcomes["long.xml"][0] == "accepted"
    assert "clamped" in outcomes["long.xml"][1]
    long_alert = await read_alert(client, admin, by_path["long.xml"]["alert_id"])
    expires = datetime.fromisoformat(long_alert["expires_at"])
    assert expires <= datetime.now(UTC) + timedelta(days=7)
    assert {d["alert_id"] is None for p, d in by_path.items() if p != "long.xml"} == {True}
    detail = await client.get(f"/v1/admin/cap-sources/{source['id']}", headers=admin.headers)
    assert detail.json()["documents"] == {
        "accepted": 1, "invalid": 1, "refused": 2, "ignored": 4, "unsupported": 2,
    }  # fmt: skip


async def test_an_officers_feed_stays_inside_their_jurisdiction(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    officer = await new_agency(app, client)  # 20 km around central London
    feed.put("/in.xml", cap_document(new_cap()))
    feed.put("/out.xml", cap_document(new_cap(), areas=[circle_area(53.48, -2.24, 1.0)]))
    feed.put("/feed.atom", atom_index([feed.url("/in.xml"), feed.url("/out.xml")]))
    source = await register(client, admin, feed.url("/feed.atom"), agency_user_id=str(officer.id))
    await poll(app)
    by_path = {d["url"].rsplit("/", 1)[1]: d for d in await logged(client, admin, source["id"])}
    assert by_path["in.xml"]["outcome"] == "accepted"
    alert = await read_alert(client, admin, by_path["in.xml"]["alert_id"])
    assert alert["issuer"] == {
        "id": str(officer.id), "display_name": "Riverside Council", "kind": "agency",
    }  # fmt: skip
    assert by_path["out.xml"]["outcome"] == "refused"
    assert "jurisdiction" in by_path["out.xml"]["reason"]


@pytest.mark.parametrize("validator", ["etag", "last-modified"])
async def test_an_unchanged_source_answers_304_and_nothing_is_read_again(
    cap_app: AppClient, feed: FeedServer, validator: str
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    when = "Tue, 01 Dec 2026 10:00:00 GMT"
    feed.put(
        "/one.xml",
        cap_document(new_cap()),
        etag=validator == "etag",
        last_modified=when if validator == "last-modified" else None,
    )
    source = await register(client, admin, feed.url("/one.xml"))
    await poll(app)
    await poll(app, soon(120))
    first, second = feed.requests_to("/one.xml")
    assert "If-None-Match" not in first.headers
    if validator == "etag":
        assert second.headers["If-None-Match"] == feed.files["/one.xml"].etag
    else:
        assert second.headers["If-Modified-Since"] == when
    assert (first.status, second.status) == (200, 304)
    detail = (
        await client.get(f"/v1/admin/cap-sources/{source['id']}", headers=admin.headers)
    ).json()
    assert detail["status"]["last_status"] == 304
    assert detail["documents"] == {"accepted": 1}


async def test_a_source_that_is_down_is_backed_off_then_recovers(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    feed.put("/flaky.xml", cap_document(new_cap()))
    source = await register(client, admin, feed.url("/flaky.xml"))
    feed.down = True
    t0 = soon()
    assert await poll(app, t0) == 1
    url = f"/v1/admin/cap-sources/{source['id']}"
    status = (await client.get(url, headers=admin.headers)).json()["status"]
    assert (status["failures"], status["last_status"], status["last_error"]) == (1, 503, "HTTP 503")
    retry = datetime.fromisoformat(status["next_poll_at"])
    assert retry - t0 == timedelta(seconds=120)  # twice the 60 s interval
    # Not due before then, however often the poller looks.
    assert await poll(app, t0 + timedelta(seconds=119)) == 0
    assert await poll(app, retry) == 1
    status = (await client.get(url, headers=admin.headers)).json()["status"]
    assert status["failures"] == 2
    assert datetime.fromisoformat(status["next_poll_at"]) - retry == timedelta(seconds=240)
    feed.down = False
    back = retry + timedelta(seconds=240)
    assert await poll(app, back) == 1
    detail = (await client.get(url, headers=admin.headers)).json()
    assert (detail["status"]["failures"], detail["status"]["last_error"]) == (0, None)
    assert detail["status"]["last_success_at"] is not None
    assert datetime.fromisoformat(detail["status"]["next_poll_at"]) - back == timedelta(seconds=60)
    assert detail["documents"] == {"accepted": 1}


async def test_a_deleted_source_is_no_longer_polled(cap_app: AppClient, feed: FeedServer) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    feed.put("/gone.xml", cap_document(new_cap()))
    source = await register(client, admin, feed.url("/gone.xml"))
    await poll(app)
    deleted = await client.delete(f"/v1/admin/cap-sources/{source['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    assert await poll(app, soon(3600)) == 0
    assert len(feed.requests_to("/gone.xml")) == 1
    assert await documents(app, source["id"]) == []
    # Registered again, the document it served is a duplicate, not a second alert.
    again = await register(client, admin, feed.url("/gone.xml"))
    await poll(app, soon(3600))
    [doc] = await logged(client, admin, again["id"])
    assert doc["outcome"] == "duplicate"
    assert uuid.UUID(doc["alert_id"])


async def test_a_whole_chain_listed_newest_first_is_taken_in_oldest_first(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    original = new_cap()
    update = new_cap(sent=original.sent + timedelta(seconds=10))
    cancel = new_cap(sent=original.sent + timedelta(seconds=20))
    links = [
        feed.put("/3.xml", cap_document(cancel, msg_type="Cancel", references=(original, update))),
        feed.put("/2.xml", cap_document(update, msg_type="Update", references=(original,))),
        feed.put("/1.xml", cap_document(original)),
    ]
    feed.put("/feed.atom", atom_index(links, typed=False), "application/atom+xml")
    source = await register(client, admin, feed.url("/feed.atom"))
    await poll(app)
    docs = {d["identifier"]: d for d in await logged(client, admin, source["id"])}
    assert {d["outcome"] for d in docs.values()} == {"accepted"}
    versions = [
        await read_alert(client, admin, docs[c.identifier]["alert_id"])
        for c in (original, update, cancel)
    ]
    assert [(v["msg_type"], v["version"]) for v in versions] == [
        ("alert", 1), ("update", 2), ("cancel", 3),
    ]  # fmt: skip
    assert versions[2]["references"] == versions[1]["id"]


async def test_two_pollers_at_once_poll_a_source_once(cap_app: AppClient, feed: FeedServer) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    feed.put("/shared.xml", cap_document(new_cap()))
    source = await register(client, admin, feed.url("/shared.xml"))
    at = soon()
    async with poller_for(app) as one, poller_for(app) as other:
        polled = await asyncio.gather(one.poll_due(at), other.poll_due(at))
    assert sorted(polled) == [0, 1]  # the claim's lease kept the other off it
    assert len(feed.requests_to("/shared.xml")) == 1
    assert [d["outcome"] for d in await logged(client, admin, source["id"])] == ["accepted"]


async def test_an_update_without_an_area_keeps_the_area(
    cap_app: AppClient, feed: FeedServer
) -> None:
    app, client = cap_app
    admin = await new_admin(app, client)
    original = new_cap()
    feed.put("/u.xml", cap_document(original, areas=[polygon_area()]))
    source = await register(client, admin, feed.url("/u.xml"))
    await poll(app)
    update = new_cap(sent=original.sent + timedelta(seconds=5))
    body = cap_document(update, msg_type="Update", references=(original,), areas=[])
    feed.put("/u.xml", body, etag=False)
    await poll(app, soon(120))
    docs = {d["identifier"]: d for d in await logged(client, admin, source["id"])}
    first = await read_alert(client, admin, docs[original.identifier]["alert_id"])
    second = await read_alert(client, admin, docs[update.identifier]["alert_id"])
    assert docs[update.identifier]["reason"] == "no area given: the area is kept"
    assert (second["version"], second["area"]) == (2, first["area"])
