"""Moderating a cluster: who may, one transition for all its reports, one notification."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from app.geo.privacy import snap
from app.geo.shapes import haversine_m
from app.push.dispatcher import Dispatcher
from tests.alerts.factories import new_agency
from tests.auth.factories import Account, new_account, new_admin
from tests.groups.factories import join, new_group, outbox_events, verify
from tests.incidents.factories import SPOT
from tests.incidents.test_clusters import cluster_of, filed, moved
from tests.push.factories import RecordingSender, device, drain


@dataclass
class Scene:
    people: dict[str, Account]
    group_id: str
    unverified_group_id: str
    reports: list[str]
    cluster_id: str


async def clustered(app: FastAPI, client: httpx.AsyncClient) -> Scene:
    """A verified group, an unverified one over the same streets, and three reports by
    three members that chain into one cluster."""
    people = {
        name: await new_account(client)
        for name in ("owner", "ann", "bob", "cat", "member", "unverified_owner", "outsider")
    }
    group = await new_group(client, people["owner"], join_policy="open")
    await verify(app, client, group["id"])
    for name in ("ann", "bob", "cat", "member"):
        assert (await join(client, people[name], group["id"])).status_code in (200, 201)
    other = await new_group(client, people["unverified_owner"], name="Our St", join_policy="open")
    reports = [
        await filed(client, people[name], moved(east))
        for name, east in (("ann", 0), ("bob", 120), ("cat", 240))
    ]
    read = await client.get(f"/v1/incidents/{reports[0]}", headers=people["owner"].headers)
    cluster = read.json()["cluster"]
    assert cluster["size"] == 3
    return Scene(people, group["id"], other["id"], reports, cluster["id"])


async def test_only_moderators_list_read_and_transition_clusters(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    scene = await clustered(app, client)
    people, group_id, reports, cluster_id = (
        scene.people,
        scene.group_id,
        scene.reports,
        scene.cluster_id,
    )
    path = f"/v1/incident-clusters/{cluster_id}"
    verify_body = {"status": "verified"}
    for who in ("member", "ann", "unverified_owner", "outsider"):
        headers = people[who].headers
        assert (await client.get("/v1/incident-clusters", headers=headers)).status_code == 403
        moved_ = await client.post(f"{path}/transitions", headers=headers, json=verify_body)
        assert moved_.status_code in (403, 404), (who, moved_.text)
    # The unverified group's owner, asking about their own group.
    asked = await client.get(
        "/v1/incident-clusters",
        params={"group_id": scene.unverified_group_id},
        headers=people["unverified_owner"].headers,
    )
    assert asked.status_code == 403
    # Members see the reports (snapped) but not the cluster; outsiders not even that.
    assert (await client.get(path, headers=people["member"].headers)).status_code == 403
    assert (await client.get(path, headers=people["outsider"].headers)).status_code == 404
    for report_id in reports:
        seen = await client.get(f"/v1/incidents/{report_id}", headers=people["member"].headers)
        assert seen.json()["cluster"] is None
        own = await client.get(f"/v1/incidents/{report_id}", headers=people["ann"].headers)
        assert own.status_code == 200
        assert own.json()["cluster"] is None
    listing = await client.get("/v1/incidents", headers=people["member"].headers)
    assert all(item["cluster"] is None for item in listing.json()["items"])
    # The verified group's owner and an agency officer do.
    officer = await new_agency(app, client)
    for moderator in (people["owner"], officer):
        listed = await client.get(
            "/v1/incident-clusters", params={"group_id": group_id}, headers=moderator.headers
        )
        assert listed.status_code == 200, listed.text
        assert [c["id"] for c in listed.json()["items"]] == [cluster_id]
        assert listed.json()["items"][0]["size"] == 3
        read = await client.get(path, headers=moderator.headers)
        assert read.status_code == 200
        assert [m["id"] for m in read.json()["members"]] == reports
        assert all(m["location_exact"] for m in read.json()["members"])
        assert all(m["cluster"]["id"] == cluster_id for m in read.json()["members"])
    page = await client.get("/v1/incident-clusters", params={"limit": 1}, headers=officer.headers)
    assert page.json()["next_cursor"] is None


async def test_a_cluster_is_verified_in_one_transition_and_notifies_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    scene = await clustered(app, client)
    people, reports, cluster_id = scene.people, scene.reports, scene.cluster_id
    tokens = {}
    for name in ("ann", "bob", "cat", "member"):
        tokens[name] = "token-" + name + "-" + "z" * 20
        await device(client, people[name], tokens[name])
    sender = RecordingSender()
    dispatcher = Dispatcher(app.state.sessionmaker, sender)
    await drain(dispatcher)  # what came before: the reports' own events
    sender.sent.clear()
    path = f"/v1/incident-clusters/{cluster_id}/transitions"
    no_reason = await client.post(
        path, headers=people["owner"].headers, json={"status": "rejected"}
    )
    assert no_reason.status_code == 422
    done = await client.post(path, headers=people["owner"].headers, json={"status": "verified"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert sorted(body["changed"]) == sorted(reports)
    assert body["skipped"] == []
    assert body["statuses"]["verified"] == 3
    assert all(m["status"] == "verified" for m in body["members"])
    again = await client.post(path, headers=people["owner"].headers, json={"status": "verified"})
    assert again.status_code == 409
    verified = await outbox_events(app, "incident.verified")
    assert len(verified) == 1
    assert verified[0]["cluster_id"] == cluster_id
    assert sorted(verified[0]["incident_ids"]) == sorted(reports)
    await drain(dispatcher)
    kinds = Counter((m.token.split("-")[1], m.content["data"]["type"]) for m in sender.sent)
    for name in ("ann", "bob", "cat", "member"):
        assert kinds[(name, "incident.verified")] == 1, kinds  # once, not once a report
    for name in ("ann", "bob", "cat"):  # each reporter hears of their own report
        assert kinds[(name, "incident.status_changed")] == 1, kinds
    assert kinds[("member", "incident.status_changed")] == 0
    titles = {
        m.content["title"] for m in sender.sent if m.content["data"]["type"] == "incident.verified"
    }
    assert titles == {"3 reports near you were verified"}
    for m in sender.sent:  # nothing that ties the reports together for their readers
        if m.content["data"]["type"] == "incident.verified":
            assert set(m.content["data"]) == {"incident_id", "type", "event_id"}
    history = await client.get(
        f"/v1/incidents/{reports[1]}/history", headers=people["owner"].headers
    )
    assert [h["to_status"] for h in history.json()] == ["verified"]


async def test_members_the_caller_does_not_moderate_are_left_out(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, resident = await new_account(client), await new_account(client)
    group = await new_group(client, owner, join_policy="open")
    await join(client, resident, group["id"])
    early = await filed(client, resident, moved(0))  # before the group's verification
    await verify(app, client, group["id"])
    later = [await filed(client, resident, moved(east)) for east in (50, 100)]
    cluster = (await client.get(f"/v1/incidents/{later[0]}", headers=owner.headers)).json()
    # The early report is not theirs to moderate: it counts in nothing they are shown.
    assert cluster["cluster"]["size"] == 2
    early_read = await client.get(f"/v1/incidents/{early}", headers=owner.headers)
    assert early_read.json()["cluster"] is None
    done = await client.post(
        f"/v1/incident-clusters/{cluster['cluster']['id']}/transitions",
        headers=owner.headers,
        json={"status": "rejected", "note": "Fireworks, not a break-in"},
    )
    assert done.status_code == 200, done.text
    assert sorted(done.json()["changed"]) == sorted(later)
    assert done.json()["skipped"] == []
    statuses = {m["id"]: m["status"] for m in done.json()["members"]}
    assert statuses == {later[0]: "rejected", later[1]: "rejected"}
    admin = await new_admin(app, client)
    assert (await client.get(f"/v1/incidents/{early}", headers=admin.headers)).json()[
        "status"
    ] == "submitted"
    assert await outbox_events(app, "incident.verified") == []


def _probe_and_hidden(radius_m: float) -> tuple[list[float], list[float]]:
    """A point H outside the circle of `radius_m` around SPOT by both its exact and its
    snapped point (so the circle's group shows it to nobody), and a point P inside the
    circle 140 m from H (within the corroboration radius)."""
    for east in range(int(radius_m) + 20, int(radius_m) + 140, 5):
        for north in range(-100, 101, 20):
            hidden, probe = moved(east, north), moved(east - 140, north)
            snapped = snap(*hidden)
            if (
                haversine_m(*SPOT, *snapped) > radius_m + 10
                and haversine_m(*SPOT, *probe) < radius_m - 10
            ):
                return probe, hidden
    raise AssertionError("no such points")


async def test_a_moderator_learns_nothing_of_reports_they_do_not_moderate(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The attack: a verified group's owner files reports at chosen points and reads the
    clusters they join. A report the owner may not see at all (H, outside every group) or
    sees only snapped (E, filed before the verification) must count in nothing the owner
    is shown, or each probe would place it within 150 m of the probe's exact point."""
    owner, resident, outsider = [await new_account(client) for _ in range(3)]
    area = {"type": "Point", "coordinates": list(SPOT), "radius_m": 500}
    group = await new_group(client, owner, area=area, join_policy="open")
    await join(client, resident, group["id"])
    probe_point, hidden_point = _probe_and_hidden(500)
    early = await filed(client, resident, moved(0))
    hidden = await filed(client, outsider, hidden_point)
    await verify(app, client, group["id"])
    probes = [await filed(client, owner, probe_point), await filed(client, owner, moved(60))]
    admin = await new_admin(app, client)
    assert (await cluster_of(client, admin, hidden))["size"] == 2  # H and the first probe
    assert (await cluster_of(client, admin, early))["size"] == 2  # E and the second
    assert (await client.get(f"/v1/incidents/{hidden}", headers=owner.headers)).status_code == 404
    for probe in probes:
        read = await client.get(f"/v1/incidents/{probe}", headers=owner.headers)
        assert read.json()["cluster"] is None, read.json()
    listed = await client.get("/v1/incident-clusters", headers=owner.headers)
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    listing = await client.get("/v1/incidents", headers=owner.headers)
    assert all(item["cluster"] is None for item in listing.json()["items"])
    for report_id in (hidden, early):
        cluster = await cluster_of(client, admin, report_id)
        path = f"/v1/incident-clusters/{cluster['id']}"
        assert (await client.get(path, headers=owner.headers)).status_code == 404
        moved_ = await client.post(
            f"{path}/transitions", headers=owner.headers, json={"status": "verified"}
        )
        assert moved_.status_code == 404


async def test_a_chain_through_a_hidden_report_shows_no_cluster(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The attack continued: two probes 200 m apart, which do not link, chained into one
    cluster by a report H between them that the owner may not see, would place H where
    the two radii meet. The owner is shown no cluster; an admin sees all three."""
    owner, outsider = await new_account(client), await new_account(client)
    area = {"type": "Point", "coordinates": list(SPOT), "radius_m": 500}
    group = await new_group(client, owner, area=area, join_policy="open")
    await verify(app, client, group["id"])
    found = None
    for east in range(520, 580, 5):
        for north in range(-100, 101, 20):
            hidden_point = moved(east, north)
            probes_at = [moved(east - 100, north + 100), moved(east - 100, north - 100)]
            if haversine_m(*SPOT, *snap(*hidden_point)) > 510 and all(
                haversine_m(*SPOT, *p) < 490 for p in probes_at
            ):
                found = hidden_point, probes_at
    assert found is not None
    hidden_point, probes_at = found
    hidden = await filed(client, outsider, hidden_point)
    probes = [await filed(client, owner, p) for p in probes_at]
    admin = await new_admin(app, client)
    cluster = await cluster_of(client, admin, hidden)
    assert cluster["size"] == 3
    for probe in probes:
        read = await client.get(f"/v1/incidents/{probe}", headers=owner.headers)
        assert read.json()["cluster"] is None, read.json()
    listing = await client.get("/v1/incidents", headers=owner.headers)
    assert [item["cluster"] for item in listing.json()["items"]] == [None, None]
    listed = await client.get("/v1/incident-clusters", headers=owner.headers)
    assert listed.json()["items"] == []
    path = f"/v1/incident-clusters/{cluster['id']}"
    assert (await client.get(path, headers=owner.headers)).status_code == 404
    assert (await client.get(path, headers=admin.headers)).json()["size"] == 3
