"""No webhook reaches loopback, private, link-local or metadata addresses: refused when
subscribing, and again at every delivery, where an allow-list may have shrunk since or
DNS may answer otherwise (the attempt is recorded, nothing is sent)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.alerts.factories import issue, new_agency
from tests.conftest import AppFactory
from tests.test_problems import assert_problem
from tests.webhooks.factories import (
    Clock,
    channels,
    deliveries,
    receiver,
    subscribe,
    webhook_client,
)

REFUSED_AT_SUBSCRIPTION = [
    "https://127.0.0.1/hook",
    "https://10.0.0.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://localhost/hook",  # a name that resolves to loopback
    "https://2130706433/hook",  # 127.0.0.1 spelt as a number
    "http://hooks.example.test/hook",  # plain http, not allowed
    "https://user:pw@hooks.example.test/hook",
    "https://unresolvable.invalid/hook",
]
PUBLIC = "93.184.216.34"  # never connected to: only answered by the fake DNS below


class FakeDNS:
    """Answers for names under .example.test as the test says; the system for the rest."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self._real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in self.answers:
            address, number = self.answers[name], int(port or 0)
            if ":" in address:
                return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, number, 0, 0))]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, number))]
        if isinstance(name, str) and name.endswith((".example.test", ".invalid")):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self._real(host, port, *args, **kwargs)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


async def test_refused_when_subscribing(app_factory: AppFactory, dns: FakeDNS) -> None:
    dns.answers["hooks.example.test"] = PUBLIC
    async with app_factory() as (app, client):
        subscriber = await webhook_client(app, client)
        for url in REFUSED_AT_SUBSCRIPTION:
            answer = await client.post(
                "/v1/webhooks",
                headers=subscriber.headers,
                json={"url": url, "events": ["alert.issued"]},
            )
            errors: Any = assert_problem(answer, 422)["errors"]
            assert [e["field"] for e in errors] == ["url"], (url, errors)
        made = await subscribe(client, subscriber, "https://hooks.example.test/hook")
        moved = await client.patch(
            f"/v1/webhooks/{made['id']}",
            headers=subscriber.headers,
            json={"url": "https://169.254.169.254/"},
        )
        assert_problem(moved, 422)
        listed = await client.get("/v1/webhooks", headers=subscriber.headers)
        assert [s["url"] for s in listed.json()["items"]] == ["https://hooks.example.test/hook"]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:{port}/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/hook",
        "https://[::1]:{port}/hook",
        "https://localhost:{port}/hook",
    ],
)
async def test_refused_at_delivery_once_no_longer_allowed(
    app_factory: AppFactory, url: str
) -> None:
    async with receiver() as box:
        url = url.format(port=box.port)
        allowed = url.split("/")[2]
        if ":" not in allowed.replace("[::1]", ""):
            allowed += ":443"
        async with app_factory(webhook_allowed_hosts=allowed) as (app, client):
            officer = await new_agency(app, client)
            subscriber = await webhook_client(app, client)
            made = await subscribe(client, subscriber, url)  # allowed then
            assert (await issue(client, officer)).status_code == 201
            async with channels(app, Clock(), "") as run:  # the allow-list since removed
                await run.deliver()
            [log] = await deliveries(client, subscriber, made["id"])
    assert box.received == []
    assert log["state"] == "pending"  # retried later: DNS or the setting may change back
    [attempt] = log["attempts"]
    assert attempt["status"] is None
    assert attempt["error"].startswith("refused: ")


async def test_refused_at_delivery_when_dns_changes(app_factory: AppFactory, dns: FakeDNS) -> None:
    dns.answers["hooks.example.test"] = PUBLIC
    async with receiver() as box, app_factory() as (app, client):
        officer = await new_agency(app, client)
        subscriber = await webhook_client(app, client)
        made = await subscribe(client, subscriber, f"https://hooks.example.test:{box.port}/hook")
        clock = Clock()
        async with channels(app, clock, "") as run:
            for answer in ("127.0.0.1", "169.254.169.254", "::1", "10.0.0.1"):
                dns.answers["hooks.example.test"] = answer  # rebound after the check
                assert (await issue(client, officer)).status_code == 201
                await run.deliver()
        log = await deliveries(client, subscriber, made["id"])
        assert box.received == []
        errors = sorted(d["attempts"][0]["error"] for d in log)
        assert len(errors) == 4
        assert all(e.startswith("refused: hooks.example.test resolves to") for e in errors), errors
        assert any("metadata" in e for e in errors)
