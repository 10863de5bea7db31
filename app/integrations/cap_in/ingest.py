"""One CAP document from a source, judged and, when it passes, taken in as an alert.

In order: the schema (`parse`: nothing is read from a document that fails it), the
source's trust (its `sender`), what is for us (an `Actual`, `Public` Alert, Update or
Cancel), CAP's own key (a document taken in before, from any source, is a duplicate),
then the mapping and our alert rules, applied by the alerts service exactly as for an
officer's alert (so recipients, push and the outbox event are the same), issued as the
source's officer or the system account and shown under the source's name. Whatever the
outcome, the document is logged once per source with the reason (`CapDocument`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts import service as alerts_service
from app.alerts.models import Alert
from app.alerts.schemas import MAX_LIFETIME, AlertCreate, AlertUpdate
from app.auth.models import Role, User
from app.db import utcnow
from app.geo.shapes import contains, from_geojson
from app.geo.validation import checked_area
from app.integrations.cap_in.models import CapAlertKey, CapDocument, CapSource, Outcome
from app.integrations.cap_in.parse import (
    Area,
    CapAlert,
    Circle,
    Invalid,
    Unsupported,
    alert_fields,
    parse,
)
from app.problems import Problem
from app.settings import Settings

# The account alerts of a source without an officer are issued as: one that cannot sign
# in (no password, no Firebase uid) and holds no role of its own (a resident, so that it
# counts as no admin anywhere), acting with an admin's reach only here, when it issues;
# the source's `allowed_area` is what bounds it.
SYSTEM_EMAIL = "cap-feeds@system.invalid"
SYSTEM_NAME = "CAP feeds"
_UPDATE_FIELDS = tuple(AlertUpdate.model_fields)
# CAP's key is kept whole (cap_alert_keys): a longer one could not be matched.
KEY_LENGTH = 255
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str | None = None
    alert_id: uuid.UUID | None = None


def digest(document: bytes) -> str:
    return hashlib.sha256(document).hexdigest()


async def seen(session: AsyncSession, source_id: object, document_digest: str) -> bool:
    found = await session.execute(
        select(col(CapDocument.id)).where(
            col(CapDocument.source_id) == source_id, col(CapDocument.digest) == document_digest
        )
    )
    return found.first() is not None


async def log_document(
    session: AsyncSession, source: CapSource, url: str, document: bytes, decision: Decision
) -> CapDocument:
    """Log a document without reading it (refused before or at its fetch)."""
    record = CapDocument(
        source_id=source.id,
        url=url[:2000],
        digest=digest(document),
        outcome=decision.outcome.value,
        reason=decision.reason,
    )
    session.add(record)
    await session.flush()
    return record


async def take_in(
    session: AsyncSession, settings: Settings, source: CapSource, url: str, document: bytes
) -> CapDocument | None:
    """Judge `document` and log it; None when this source has served it before."""
    document_digest = digest(document)
    if await seen(session, source.id, document_digest):
        return None
    record = CapDocument(
        source_id=source.id, url=url[:2000], digest=document_digest, outcome=Outcome.invalid
    )
    try:
        cap = parse(document)
        # Times the schema's pattern lets through but no calendar has (month 13), or
        # that fall off the calendar once in UTC, make the document unreadable too.
        for instant in (cap.sent, *(r.sent for r in cap.references)):
            instant.astimezone(UTC)
    except Invalid as exc:
        record.reason = str(exc)
    except (ValueError, OverflowError) as exc:
        record.reason = f"not readable: {exc}"[:2000]
    else:
        record.identifier = cap.identifier[:255]
        record.sender = cap.sender[:255]
        record.sent = cap.sent.astimezone(UTC)
        record.msg_type = cap.msg_type
        try:
            decision = await _decide(session, settings, source, cap)
        except OverflowError as exc:  # an expiry off the calendar once in UTC
            decision = Decision(Outcome.invalid, f"not readable: {exc}")
        record.outcome = decision.outcome.value
        record.reason = decision.reason[:2000] if decision.reason else None
        record.alert_id = decision.alert_id
    session.add(record)
    await session.flush()
    return record


async def _decide(
    session: AsyncSession, settings: Settings, source: CapSource, cap: CapAlert
) -> Decision:
    if cap.sender != source.trust_sender:
        return Decision(
            Outcome.refused,
            f"sender {cap.sender!r} is not the one this source is trusted for "
            f"({source.trust_sender!r})",
        )
    if cap.status != "Actual":
        return Decision(Outcome.ignored, f"status {cap.status}: only Actual alerts are taken in")
    if cap.msg_type not in ("Alert", "Update", "Cancel"):
        return Decision(Outcome.ignored, f"msgType {cap.msg_type}: not an alert")
    if cap.scope != "Public":
        return Decision(Outcome.ignored, f"scope {cap.scope}: only public alerts are taken in")
    if max(len(cap.identifier), len(cap.sender)) > KEY_LENGTH:
        return Decision(
            Outcome.unsupported, f"identifier or sender longer than {KEY_LENGTH} characters"
        )
    sent = cap.sent.astimezone(UTC)
    existing = await _key(session, cap.identifier, cap.sender, sent)
    if existing is not None:
        return Decision(Outcome.duplicate, "taken in before", existing.alert_id)
    issuer = await _issuer(session, source)
    if issuer is None:
        return Decision(Outcome.refused, "the source's officer is no longer an agency officer")
    try:
        async with session.begin_nested():
            key = CapAlertKey(
                identifier=cap.identifier, sender=cap.sender, sent=sent,
                source_id=source.id,
            )  # fmt: skip
            session.add(key)
            await session.flush()
            alert, note = await _apply(session, settings, source, issuer, cap)
            key.alert_id = alert.id
            await session.flush()
    except IntegrityError:  # taken in at this moment through another source
        again = await _key(session, cap.identifier, cap.sender, sent)
        return Decision(Outcome.duplicate, "taken in before", again.alert_id if again else None)
    except _Skip as skip:
        return skip.decision
    except Problem as problem:
        return Decision(Outcome.refused, _problem_text(problem))
    return Decision(Outcome.accepted, note, alert.id)


class _Skip(Exception):
    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


async def _apply(
    session: AsyncSession, settings: Settings, source: CapSource, issuer: User, cap: CapAlert
) -> tuple[Alert, str | None]:
    """Issue, update or cancel; raises `_Skip` or `Problem` for what is not taken in."""
    current = await _referenced(session, cap) if cap.msg_type != "Alert" else None
    if cap.msg_type == "Cancel":
        if current is None:
            raise _Skip(Decision(Outcome.ignored, "cancels no alert taken in here"))
        _check_open(current)
        reason = cap.info.description if cap.info and cap.info.description else None
        cancelled = await alerts_service.cancel_alert(session, issuer, current, reason)
        return cancelled, None
    fields, notes = _fields(cap, current.area if current is not None else None)
    if cap.msg_type == "Update" and current is not None:
        _check_open(current)
        changes = _validated(AlertUpdate, {k: fields[k] for k in _UPDATE_FIELDS})
        assert changes.area is not None  # the mapping always gives one
        _check_allowed(settings, source, changes.area)
        version = await alerts_service.update_alert(session, settings, issuer, current, changes)
        return version, "; ".join(notes) or None
    if cap.msg_type == "Update":
        notes.append("updates no alert taken in here: issued as a new alert")
    data = _validated(AlertCreate, fields)
    assert data.area is not None
    _check_allowed(settings, source, data.area)
    alert = await alerts_service.issue_alert(
        session, settings, issuer, data, issuer_name=source.name
    )
    return alert, "; ".join(notes) or None


def _validated(model: type[M], fields: dict[str, Any]) -> M:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise _Skip(Decision(Outcome.refused, _validation_text(exc))) from exc


def _fields(cap: CapAlert, kept_area: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """Our alert's fields; an Update that gives no area keeps `kept_area`, the area of
    the alert it updates (CAP's `area` is optional)."""
    now = utcnow()
    notes: list[str] = []
    keep = kept_area is not None and cap.info is not None and not cap.info.areas
    if keep and cap.info is not None:
        # Any area, to map the rest; replaced below.
        cap = replace(cap, info=replace(cap.info, areas=[Area("", circles=[Circle(0, 0, 1)])]))
    try:
        fields = alert_fields(cap, now)
    except Unsupported as exc:
        raise _Skip(Decision(Outcome.unsupported, str(exc))) from exc
    if keep:
        fields["area"] = kept_area
        notes.append("no area given: the area is kept")
    expires = cap.info.expires if cap.info else None
    if expires is not None and expires <= now:
        raise _Skip(Decision(Outcome.ignored, f"expired at {expires.isoformat()}"))
    if expires is not None and expires > now + MAX_LIFETIME:
        notes.append(
            f"expires {expires.isoformat()} is beyond our {MAX_LIFETIME.days}-day limit: "
            f"clamped to {fields['expires_at'].isoformat()}"
        )
    return fields, notes


def _check_allowed(settings: Settings, source: CapSource, area: Any) -> None:
    """The area passes our area rules (a Problem otherwise) and lies inside the
    source's allowed area, when it has one."""
    shape = checked_area("area", area, alerts_service.area_limits(settings))
    if source.allowed_area is not None and not contains(from_geojson(source.allowed_area), shape):
        raise _Skip(Decision(Outcome.refused, "the area is not inside the source's allowed area"))


def _check_open(current: Alert) -> None:
    if not alerts_service.is_active(current):
        raise _Skip(Decision(Outcome.refused, "the alert it references is over"))


async def _key(
    session: AsyncSession, identifier: str, sender: str, sent: datetime
) -> CapAlertKey | None:
    found = await session.execute(
        select(CapAlertKey).where(
            col(CapAlertKey.identifier) == identifier,
            col(CapAlertKey.sender) == sender,
            col(CapAlertKey.sent) == sent,
        )
    )
    return found.scalars().first()


async def _referenced(session: AsyncSession, cap: CapAlert) -> Alert | None:
    """The current version of the alert the document's `references` name (the newest
    of them taken in), or None when it names none we took in."""
    wanted = [(r.identifier, r.sender, r.sent.astimezone(UTC)) for r in cap.references]
    if not wanted:
        return None
    rows = await session.execute(
        select(Alert)
        .join(CapAlertKey, col(CapAlertKey.alert_id) == col(Alert.id))
        .where(
            or_(
                *(
                    and_(
                        col(CapAlertKey.identifier) == identifier,
                        col(CapAlertKey.sender) == sender,
                        col(CapAlertKey.sent) == sent,
                    )
                    for identifier, sender, sent in wanted[:50]
                )
            )
        )
    )
    found = list(rows.scalars().all())
    if not found:
        return None
    newest = max(found, key=lambda a: a.version)
    versions = await alerts_service.chain(session, newest)
    return versions[-1]


async def _issuer(session: AsyncSession, source: CapSource) -> User | None:
    if source.agency_user_id is not None:
        user = await session.get(User, source.agency_user_id)
        if user is None or user.role not in (Role.agency, Role.admin):
            return None
        return user
    account = await system_account(session)
    # A copy outside the session: the stored account stays a resident.
    return User(
        id=account.id, email=account.email, display_name=account.display_name,
        role=Role.admin.value,
    )  # fmt: skip


async def system_account(session: AsyncSession) -> User:
    found = await session.execute(select(User).where(col(User.email) == SYSTEM_EMAIL))
    user = found.scalars().first()
    if user is not None:
        return user
    user = User(email=SYSTEM_EMAIL, display_name=SYSTEM_NAME, role=Role.resident.value)
    try:
        async with session.begin_nested():
            session.add(user)
    except IntegrityError:  # made at this moment by another poller
        found = await session.execute(select(User).where(col(User.email) == SYSTEM_EMAIL))
        return found.scalars().one()
    return user


def _problem_text(problem: Problem) -> str:
    parts = [problem.detail or problem.title]
    parts += [f"{e.field}: {e.message}" for e in problem.errors or []]
    return "; ".join(parts)


def _validation_text(exc: ValidationError) -> str:
    errors = exc.errors()
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5]
    ) or str(exc)
