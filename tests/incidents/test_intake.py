"""Reports written in batches (app.incidents.intake): concurrent requests share a
transaction, and each still gets exactly its own answer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select
from sqlmodel import col

from app import idempotency
from app.auth.models import User
from app.incidents.intake import ReportIntake
from app.incidents.schemas import IncidentCreate
from app.outbox.models import OutboxEvent
from app.problems import Problem
from tests.auth.factories import new_account
from tests.conftest import AppFactory
from tests.incidents.factories import report, report_body
from tests.incidents.test_submission import incident_count


def record_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the intake writes."""
    sizes: list[int] = []
    write = ReportIntake._write

    async def counted(self: ReportIntake, batch: list[Any]) -> Any:
        sizes.append(len(batch))
        return await write(self, batch)

    monkeypatch.setattr(ReportIntake, "_write", counted)
    return sizes


async def test_concurrent_reports_share_transactions(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = [await new_account(client, display_name=f"R{i}") for i in range(10)]
    sizes = record_batches(monkeypatch)
    answers = await asyncio.gather(
        *(report(client, a, key=f"k{n}") for a in accounts for n in range(3))
    )
    assert [a.status_code for a in answers] == [201] * 30
    assert len({a.json()["id"] for a in answers}) == 30
    # Each answer names its own reporter, though written together with others.
    names = [a.json()["reporter"]["display_name"] for a in answers]
    assert names == [f"R{i}" for i in range(10) for _ in range(3)]
    assert sum(sizes) == 30
    assert len(sizes) < 30, sizes
    assert await incident_count(app) == 30
    async with app.state.sessionmaker() as session:
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(col(OutboxEvent.event_type) == "incident.created")
        )
    assert events == 30


async def test_each_request_in_a_batch_gets_its_own_outcome(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann, gone, carol, dave = [await new_account(client) for _ in range(4)]
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(delete(User).where(col(User.id) == gone.id))
    too_old = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    answers = await asyncio.gather(
        report(client, ann, key="same", occurred_at=when),
        report(client, ann, key="same", occurred_at=when),
        report(client, ann, key="reused", description="One thing"),
        report(client, ann, key="reused", description="Another thing"),
        report(client, gone, key="g"),
        report(client, carol, key="c", occurred_at=too_old),
        report(client, dave),
        report(client, dave),
    )
    statuses = [a.status_code for a in answers]
    assert statuses == [201, 201, 201, 422, 401, 422, 201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert answers[3].json()["errors"][0]["field"] == "Idempotency-Key"
    assert answers[5].json()["errors"][0]["field"] == "occurred_at"
    assert await incident_count(app) == 4
    # The refused keys are free: the too-old report, corrected, is accepted under its key.
    fixed = await report(client, carol, key="c")
    assert fixed.status_code == 201
    assert await incident_count(app) == 5


async def test_the_rate_limit_counts_reports_in_the_same_batch(app_factory: AppFactory) -> None:
    async with app_factory(incidents_per_hour=3) as (app, client):
        ann = await new_account(client)
        when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        answers = await asyncio.gather(
            *(report(client, ann, key=f"r{n}", occurred_at=when) for n in range(5))
        )
        assert sorted(a.status_code for a in answers) == [201, 201, 201, 429, 429]
        limited = next(a for a in answers if a.status_code == 429)
        assert 0 < int(limited.headers["retry-after"]) <= 3600
        assert await incident_count(app) == 3
        # At the limit, a retry of an accepted report still gets its answer.
        n, accepted = next((n, a) for n, a in enumerate(answers) if a.status_code == 201)
        again = await report(client, ann, key=f"r{n}", occurred_at=when)
        assert again.status_code == 201
        assert again.json() == accepted.json()
        assert await incident_count(app) == 3


async def test_a_report_that_cannot_be_written_fails_alone(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = [await new_account(client) for _ in range(5)]
    insert = ReportIntake._insert

    async def poisoned(self: ReportIntake, session: Any, reports: list[Any]) -> None:
        if any(r.values["description"] == "poison" for r in reports):
            raise RuntimeError("cannot write this one")
        await insert(self, session, reports)

    monkeypatch.setattr(ReportIntake, "_insert", poisoned)
    sizes = record_batches(monkeypatch)
    answers = await asyncio.gather(
        *(report(client, a, key="k") for a in accounts),
        report(client, accounts[0], key="bad", description="poison"),
    )
    assert [a.status_code for a in answers] == [201] * 5 + [500]
    assert answers[5].headers["content-type"] == "application/problem+json"
    assert max(sizes) > 1, sizes  # it did fail in a batch, and was then written alone
    assert await incident_count(app) == 5
    # Nothing of the failed report was kept, its key included.
    monkeypatch.setattr(ReportIntake, "_insert", insert)
    again = await report(client, accounts[0], key="bad", description="poison")
    assert again.status_code == 201
    assert await incident_count(app) == 6


async def test_a_key_claimed_meanwhile_is_not_claimed_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Between the intake's read of the keys and its claim, another process may take one:
    the claim then leaves that key, and its stored answer is what the request gets."""
    ann = await new_account(client)
    async with app.state.sessionmaker() as session, session.begin():
        taken = await idempotency.claim_many(
            session, "scope", [((ann.id, "b"), "hash-b", 201, {"first": True})]
        )
        assert taken == {(ann.id, "b")}
    async with app.state.sessionmaker() as session, session.begin():
        claimed = await idempotency.claim_many(
            session,
            "scope",
            [((ann.id, key), f"hash-{key}", 201, {"key": key}) for key in ("a", "b", "c")],
        )
        assert claimed == {(ann.id, "a"), (ann.id, "c")}
        stored = await idempotency.stored(session, "scope", [(ann.id, "b"), (ann.id, "z")])
    assert stored == {(ann.id, "b"): idempotency.Stored("hash-b", {"first": True})}
    assert idempotency.replay(stored[(ann.id, "b")], "hash-b") == {"first": True}
    with pytest.raises(Problem):
        idempotency.replay(stored[(ann.id, "b")], "another body")


async def test_a_writer_cancelled_mid_batch_leaves_no_request_waiting(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = await new_account(client)
    started = asyncio.Event()

    async def stuck(self: ReportIntake, batch: list[Any]) -> Any:
        started.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(ReportIntake, "_write", stuck)
    intake: ReportIntake = app.state.incident_intake
    submitted = asyncio.ensure_future(
        intake.submit(ann.id, IncidentCreate(**report_body()), None, "127.0.0.1")
    )
    await started.wait()
    assert intake._writer is not None
    intake._writer.cancel()
    with pytest.raises(RuntimeError, match="not written"):
        await asyncio.wait_for(submitted, timeout=5)


async def test_a_fault_after_the_commit_does_not_write_the_batch_again(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rate limiter (Redis, at scale) failing once the reports are written must not
    send them through the one-by-one retry: keyless reports would be filed twice."""
    accounts = [await new_account(client) for _ in range(4)]

    async def unreachable(*_: Any) -> int:
        raise ConnectionError("the rate limiter is unreachable")

    monkeypatch.setattr(app.state.incident_intake.limiter, "hit", unreachable)
    answers = await asyncio.gather(*(report(client, a) for a in accounts))
    assert [a.status_code for a in answers] == [201] * 4
    assert await incident_count(app) == 4
