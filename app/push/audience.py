"""Who hears an outbox event, whether silently, and what the push says."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import service as alerts_service
from app.alerts.models import Alert, AlertStatus, MsgType
from app.alerts.recipients import Receipt, resolve_chain_receipts
from app.categories import LABELS, Category
from app.groups import service as groups_service
from app.groups.models import Group, Verification
from app.incidents import service as incidents_service
from app.incidents.models import Incident
from app.outbox.models import OutboxEvent


@dataclass(frozen=True)
class Audience:
    silent: dict[uuid.UUID, bool]  # user → delivered silently (quiet hours)
    message: dict[str, Any]  # title, body, data; for alerts severity, collapse key, expiry
    subject_id: uuid.UUID | None  # what it is about (alert chain, incident, group), for stats
    realtime: dict[str, Any]  # the `data` of the WebSocket event
    push: bool = True  # False: WebSocket only
    # An alert's: the version sent, and why each recipient gets it (alerts.AlertReceipt).
    alert_id: uuid.UUID | None = None
    receipts: dict[uuid.UUID, Receipt] | None = None


async def audience_of(session: AsyncSession, event: OutboxEvent) -> Audience | None:
    """None when nobody is told (or what it was about is gone)."""
    payload = event.payload
    kind = event.event_type
    silent: dict[uuid.UUID, bool]
    realtime: dict[str, Any] = {}
    receipts: dict[uuid.UUID, Receipt] | None = None
    alert_id: uuid.UUID | None = None
    if kind == "incident.created":
        incident = await session.get(Incident, uuid.UUID(payload["incident_id"]))
        if incident is None:
            return None
        users = await incidents_service.hearers(session, incident)
        if not users:  # outside every group's area, or in empty groups: nobody to tell
            return None
        public = await incidents_service.incident_read(session, incident, None)
        return Audience(
            dict.fromkeys(users, False),
            {},
            incident.id,
            public.model_dump(mode="json"),
            push=False,
        )
    if kind.startswith("alert."):
        alert = await session.get(Alert, uuid.UUID(payload["alert_id"]))
        if alert is None:
            return None
        versions = await alerts_service.chain(session, alert)
        receipts = await resolve_chain_receipts(session, versions, at=alert.issued_at)
        silent = {user: receipt.silent for user, receipt in receipts.items()}
        alert_id = alert.id
        message = alert_message(alert)
        subject = alert.chain_id
        realtime = alerts_service.to_read(alert).model_dump(mode="json")
    elif kind in ("membership.requested", "membership.approved"):
        group = await session.get(Group, uuid.UUID(payload["group_id"]))
        if group is None:
            return None
        if kind == "membership.requested":
            users = await groups_service.member_ids(session, [group.id], moderators_only=True)
            title = f"New request to join {group.name}"
        else:
            # None once the member's account was erased: nobody to tell.
            users = {uuid.UUID(payload["user_id"])} if payload.get("user_id") else set()
            title = f"You are now a member of {group.name}"
        silent = dict.fromkeys(users, False)
        message = {"title": title, "body": "", "data": {"group_id": str(group.id)}}
        subject = group.id
        realtime = {"group_id": str(group.id), "group_name": group.name}
        if kind == "membership.approved":
            realtime["user_id"] = payload["user_id"]
    elif kind == "group.verification_decided":
        group = await session.get(Group, uuid.UUID(payload["group_id"]))
        if group is None:
            return None
        users = await groups_service.owner_ids(session, group.id)
        silent = dict.fromkeys(users, False)
        decision = payload["decision"]
        titles = {
            "verified": f"{group.name} is now verified",
            "rejected": f"{group.name} was not verified",
            "suspended": f"{group.name} is suspended",
            "area_changed": f"{group.name} needs verifying again: its area changed",
        }
        message = {
            "title": titles.get(decision, f"{group.name}: verification {decision}"),
            "body": "",
            "data": {"group_id": str(group.id)},
        }
        subject = group.id
        realtime = {"group_id": str(group.id), "decision": decision}
    elif kind == "evidence.rising":
        group = await session.get(Group, uuid.UUID(payload["group_id"]))
        if group is None or group.verification != Verification.verified:
            return None
        users = await groups_service.member_ids(session, [group.id], moderators_only=True)
        silent = dict.fromkeys(users, False)
        message = rising_message(group.name, payload)
        message["data"] = {"group_id": str(group.id)}
        subject = group.id
        realtime = {
            "group_id": str(group.id),
            "group_name": group.name,
            **{k: payload[k] for k in ("first", "last", "rising")},
        }
    elif kind == "incident.status_changed" and payload.get("reporter_id"):
        silent = {uuid.UUID(payload["reporter_id"]): False}
        message = {
            "title": f"Your report is now {payload['status']}",
            "body": "",
            "data": {"incident_id": payload["incident_id"]},
        }
        subject = uuid.UUID(payload["incident_id"])
    elif kind == "incident.verified":
        groups = [uuid.UUID(g) for g in payload.get("group_ids", [])]
        users = await groups_service.member_ids(session, groups) if groups else set()
        silent = dict.fromkeys(users, False)
        # A cluster's verification is one event for all its reports: one message.
        count = len(payload.get("incident_ids", [])) or 1
        message = {
            "title": f"{count} reports near you were verified"
            if count > 1
            else "A report near you was verified",
            "body": "",
            "data": {"incident_id": payload["incident_id"]},
        }
        subject = uuid.UUID(payload["incident_id"])
    else:
        return None
    message["data"] = {**message.get("data", {}), "type": kind, "event_id": str(event.id)}
    if not realtime:  # incidents: what changed, and the id to fetch it by
        # Not a cluster's id nor its other reports: that reports corroborate each other
        # says their exact points are close, more than the snapped points members see.
        realtime = {k: v for k, v in payload.items() if k in ("incident_id", "status")}
    return Audience(silent, message, subject, realtime, alert_id=alert_id, receipts=receipts)


def alert_message(alert: Alert) -> dict[str, Any]:
    title = alert.title
    if alert.msg_type == MsgType.cancel:
        title = f"Cancelled: {title}"
    if alert.status == AlertStatus.exercise:
        title = f"[EXERCISE] {title}"
    return {
        "title": title,
        "body": alert.body[:1000],
        "severity": alert.severity,
        "collapse_key": str(alert.chain_id),
        "expires_at": alert.expires_at.isoformat(),
        "data": {
            "alert_id": str(alert.id),
            "chain_id": str(alert.chain_id),
            "severity": alert.severity,
            "category": LABELS[Category(alert.category)],
        },
    }


_TOLD_BY = {"police": "recorded by the police", "residents": "reported by residents"}


def rising_message(group_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What the group's stats say for the period, in words: categories and their
    counts over the whole area, against the months before; nothing finer."""
    rising = payload["rising"]
    labels = [LABELS[Category(r["category"])] for r in rising]
    title = (
        f"{labels[0]} is up in {group_name}"
        if len(set(labels)) == 1
        else f"{len(set(labels))} kinds of crime are up in {group_name}"
    )
    lines = [
        f"{label}: {r['current']} {_TOLD_BY[r['source']]} against {r['previous']} before"
        for label, r in zip(labels, rising, strict=True)
    ]
    body = f"{payload['first']} to {payload['last']}. " + "; ".join(lines) + "."
    return {"title": title[:200], "body": body[:1000], "data": {}}
