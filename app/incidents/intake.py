"""Submitting reports: many requests' reports written in one transaction (group commit).

Each request checks what it can alone (the body, the time it happened) and queues its
report; one writer per process takes everything queued and writes it in a single
transaction — the accounts read together, the Idempotency-Keys claimed in one
statement, the reports, their index entries and their outbox events in a statement
each — then answers every request. While it writes, the next requests queue, so the
batch grows with the load and an idle server still answers at once. On one core a
transaction per request cost 4.5 ms of a report's CPU; most of that was the statements'
fixed cost (bench/incidents.py).

A request whose key is already taken in the same batch waits for the next one, where
it finds the first one's answer: the key still decides exactly one report.

An API client (`incidents:write`, directly or as an Open311 server, app.integrations.
open311) files through here too, for residents who are no users: the report has no
reporter, the key is the client's, the limit is the client's
(NW_INCIDENTS_PER_CLIENT_PER_HOUR) instead of a user's and an address's, and the rows it
attaches (the contact details it sent) are written in the report's transaction.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import idempotency, outbox
from app.auth.names import display_names
from app.db import new_id, utcnow
from app.geo.index import index_for
from app.geo.privacy import snap
from app.geo.shapes import Circle
from app.incidents import clusters
from app.incidents.models import Incident, IncidentStatus
from app.incidents.schemas import IncidentCreate
from app.incidents.service import GEO_COLLECTION, ReportFields, to_read
from app.problems import Problem, invalid, too_many_requests, unauthenticated
from app.ratelimit import HOUR, Rate, RateLimiter
from app.settings import Settings

log = logging.getLogger("app.incidents")

CLOCK_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=30)
IDEMPOTENCY_SCOPE = "POST /v1/incidents"
# Reports written in one transaction at most: a bound on how long the write turn is held.
MAX_BATCH = 256
_TABLE = Incident.__table__


# Rows written with a report, in its transaction, once it is accepted: (table, values).
Attached = list[tuple[Table, dict[str, Any]]]


@dataclass(eq=False)
class _Report:
    user_id: uuid.UUID | None  # None: filed by the API client `client_id`
    address: str  # the client's (app.middleware.client_address), for its limit
    key: str | None
    body_hash: str
    # Found before queueing (the time it happened), answered only if it is not a retry:
    # a retry of an accepted report gets that answer even once the report is too old.
    problem: Problem | None
    values: dict[str, Any]
    attached: Attached = field(default_factory=list)
    answer: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    client_id: uuid.UUID | None = None

    @property
    def owner(self) -> uuid.UUID:
        owner = self.user_id or self.client_id
        assert owner is not None
        return owner

    @property
    def idempotency_key(self) -> idempotency.Key | None:
        return None if self.key is None else (self.owner, self.key)


def _time_problem(occurred_at: datetime, now: datetime) -> Problem | None:
    if occurred_at > now + CLOCK_SKEW:
        return invalid("occurred_at", "is in the future")
    if occurred_at < now - MAX_AGE:
        return invalid("occurred_at", "is more than 30 days ago; report it to the police directly")
    return None


class ReportIntake:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        limiter: RateLimiter,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.limiter = limiter
        self._queue: list[_Report] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(
        self,
        user_id: uuid.UUID | None,
        data: IncidentCreate,
        key: str | None,
        address: str,
        client_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """File a report, as the user `user_id` or (None) the API client `client_id`;
        with an Idempotency-Key, a retry gets the original answer back."""
        body_hash = idempotency.request_hash(data.model_dump(mode="json")) if key else ""
        return await self._submit(user_id, client_id, data, key, body_hash, address, None)

    async def submit_for_client(
        self,
        client_id: uuid.UUID,
        data: IncidentCreate,
        key: str | None,
        body: dict[str, Any],
        address: str,
        attach: Callable[[uuid.UUID], Attached],
    ) -> dict[str, Any]:
        """File a report for an API client, with no reporter. `body` is what a retry must
        repeat (the request as the client sent it: a time we filled in differs each
        time); `attach` gives the rows to write with the report, from its id."""
        body_hash = idempotency.request_hash(body) if key else ""
        return await self._submit(None, client_id, data, key, body_hash, address, attach)

    async def _submit(
        self,
        user_id: uuid.UUID | None,
        client_id: uuid.UUID | None,
        data: IncidentCreate,
        key: str | None,
        body_hash: str,
        address: str,
        attach: Callable[[uuid.UUID], Attached] | None,
    ) -> dict[str, Any]:
        now = utcnow()
        problem = _time_problem(data.occurred_at, now)
        if problem is not None and key is None:
            raise problem
        values = self._values(user_id, data, now)
        report = _Report(
            user_id=user_id,
            client_id=client_id,
            address=address,
            key=key,
            body_hash=body_hash,
            problem=problem,
            values=values,
            attached=attach(values["id"]) if attach is not None else [],
        )
        self._queue.append(report)
        loop = asyncio.get_running_loop()
        # One writer: SQLite writes one transaction at a time anyway, and on PostgreSQL a
        # second one made smaller batches for no more reports a second (0.90 ms of CPU a
        # report instead of 0.66, bench/incidents.py).
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._writer = loop.create_task(self._write_queued(), name="incident-intake")
        # Shielded: a request given up on must not cancel an answer the writer sets.
        return await asyncio.shield(report.answer)

    async def drain(self) -> None:
        """Wait until everything queued is written (at shutdown)."""
        if self._writer is not None and not self._writer.done():
            await self._writer

    def _values(
        self, user_id: uuid.UUID | None, data: IncidentCreate, now: datetime
    ) -> dict[str, Any]:
        lon, lat = data.location.coordinates
        snapped_lon, snapped_lat = snap(lon, lat, self.settings.snap_cell_m)
        return {
            "id": new_id(),
            "reporter_id": user_id,
            "category": data.category.value,
            "description": data.description,
            "occurred_at": data.occurred_at.astimezone(UTC),
            "reported_at": now,
            "lon": lon,
            "lat": lat,
            "accuracy_m": data.accuracy_m,
            "snapped_lon": snapped_lon,
            "snapped_lat": snapped_lat,
            "anonymous": data.anonymous,
            "status": IncidentStatus.submitted.value,
            "police_reference": None,
            "updated_at": now,
        }

    async def _write_queued(self) -> None:
        while self._queue:
            batch: list[_Report] = []
            later: list[_Report] = []
            keys: set[idempotency.Key] = set()
            for report in self._queue[:MAX_BATCH]:
                key = report.idempotency_key
                (later if key in keys else batch).append(report)
                if key is not None:
                    keys.add(key)
            self._queue[: len(batch) + len(later)] = later
            await self._write_alone_on_failure(batch)

    async def _write_alone_on_failure(self, batch: list[_Report]) -> None:
        """Write a batch; if it fails, each report alone, so that one bad report (or a
        database fault) fails only the requests it concerns."""
        try:
            outcomes = await self._write(batch)
        except Exception as exc:
            if len(batch) > 1:
                log.warning("a batch of %d reports failed; writing them one by one", len(batch))
                for report in batch:
                    await self._write_alone_on_failure([report])
                return
            outcomes = [exc]
        except BaseException:  # cancelled: no request may wait for ever
            for report in batch:
                if not report.answer.done():
                    report.answer.set_exception(RuntimeError("the report was not written"))
            raise
        for report, outcome in zip(batch, outcomes, strict=True):
            if report.answer.done():
                continue
            if isinstance(outcome, BaseException):
                report.answer.set_exception(outcome)
            else:
                report.answer.set_result(outcome)

    async def _write(self, batch: list[_Report]) -> list[dict[str, Any] | Exception]:
        """One transaction for the batch; the answer (or problem) of each report, in order."""
        outcomes: list[dict[str, Any] | Exception | None] = [None] * len(batch)
        async with self.sessionmaker() as session, session.begin():
            names = await display_names(session, {r.user_id for r in batch if r.user_id})
            keyed = [k for r in batch if (k := r.idempotency_key) is not None]
            stored = await idempotency.stored(session, IDEMPOTENCY_SCOPE, keyed) if keyed else {}
            accepted: list[int] = []
            in_batch: Counter[str] = Counter()  # by rate key
            for i, report in enumerate(batch):
                try:
                    outcomes[i] = await self._decide(report, names, stored, in_batch)
                except Problem as problem:
                    outcomes[i] = problem
                    continue
                if outcomes[i] is None:
                    accepted.append(i)
                    in_batch.update(key for _, key, _ in self._limits(report))
            for i in accepted:
                # A plain record, not an entity: building an ORM instance per report was
                # a fifth of the batch's CPU.
                row = cast(ReportFields, SimpleNamespace(**batch[i].values))
                name = names[user] if (user := batch[i].user_id) else None
                outcomes[i] = to_read(row, True, name).model_dump(mode="json")
            accepted = await self._claim_keys(session, batch, accepted, outcomes)
            await self._insert(session, [batch[i] for i in accepted])
        # Committed: from here on nothing may fail the batch, or it would be written again.
        for i in accepted:
            try:
                for rate, key, _ in self._limits(batch[i]):
                    await self.limiter.hit(rate, key)
            except Exception:
                log.exception("a report was not counted against its reporter's rate limit")
        # Every report was decided above: a replay, a problem, or an answer written.
        return cast(list[dict[str, Any] | Exception], outcomes)

    def _limits(self, report: _Report) -> list[tuple[Rate, str, str]]:
        """(rate, key, what a refusal says) for each limit a report counts against."""
        if report.client_id is not None:
            per_client = self.settings.incidents_per_client_per_hour
            return [
                (
                    Rate(per_client, HOUR),
                    f"incidents:client:{report.client_id}",
                    f"At most {per_client} reports an hour per API client.",
                )
            ]
        per_user = self.settings.incidents_per_hour
        per_address = self.settings.incidents_per_address_per_hour
        return [
            (
                Rate(per_user, HOUR),
                f"incidents:{report.user_id}",
                f"At most {per_user} reports an hour.",
            ),
            (
                Rate(per_address, HOUR),
                f"incidents:address:{report.address}",
                f"At most {per_address} reports an hour from one address.",
            ),
        ]

    async def _decide(
        self,
        report: _Report,
        names: dict[uuid.UUID, str],
        stored: dict[idempotency.Key, idempotency.Stored],
        in_batch: Counter[str],
    ) -> dict[str, Any] | None:
        """A replay's answer; None for a report to write; raises the problem otherwise."""
        # The account went away after the token was issued (a client was read at once).
        if report.user_id is not None and report.user_id not in names:
            raise unauthenticated("The access token is invalid or expired.")
        key = report.idempotency_key
        if key is not None and key in stored:
            return idempotency.replay(stored[key], report.body_hash)
        if report.problem is not None:
            raise report.problem
        # Reports accepted earlier in this batch are not counted yet: this one must fit
        # after them.
        for rate, rate_key, detail in self._limits(report):
            wait = await self.limiter.retry_after(rate, rate_key, cost=in_batch[rate_key] + 1)
            if wait:
                raise too_many_requests(wait, detail)
        return None

    async def _claim_keys(
        self,
        session: AsyncSession,
        batch: list[_Report],
        accepted: list[int],
        outcomes: list[dict[str, Any] | Exception | None],
    ) -> list[int]:
        """Claim the accepted reports' keys; a key another process took in the meantime
        makes its report a replay of that one's answer. Returns the reports to write."""
        claims = []
        for i in accepted:
            key = batch[i].idempotency_key
            if key is not None:
                answer = outcomes[i]
                assert isinstance(answer, dict)
                claims.append((key, batch[i].body_hash, 201, answer))
        if not claims:
            return accepted
        clients = frozenset(r.client_id for r in batch if r.client_id is not None)
        claimed = await idempotency.claim_many(session, IDEMPOTENCY_SCOPE, claims, clients)
        lost = [i for i in accepted if batch[i].key and batch[i].idempotency_key not in claimed]
        if not lost:
            return accepted
        stored = await idempotency.stored(
            session, IDEMPOTENCY_SCOPE, [k for i in lost if (k := batch[i].idempotency_key)]
        )
        for i in lost:
            key = batch[i].idempotency_key
            assert key is not None
            try:
                outcomes[i] = idempotency.replay(stored[key], batch[i].body_hash)
            except Problem as problem:
                outcomes[i] = problem
        gone = set(lost)
        return [i for i in accepted if i not in gone]

    async def _insert(self, session: AsyncSession, reports: list[_Report]) -> None:
        if not reports:
            return
        await session.execute(insert(_TABLE), [r.values for r in reports])
        attached: dict[Table, list[dict[str, Any]]] = {}
        for report in reports:
            for table, values in report.attached:
                attached.setdefault(table, []).append(values)
        for table, rows in attached.items():
            await session.execute(insert(table), rows)
        await index_for(session).put_many(
            session,
            GEO_COLLECTION,
            [(r.values["id"], Circle(r.values["lon"], r.values["lat"])) for r in reports],
            replace=False,
        )
        await clusters.assign(
            session, self.settings, [clusters.new_report(r.values) for r in reports]
        )
        await outbox.emit_many(
            session, "incident.created", [{"incident_id": str(r.values["id"])} for r in reports]
        )
