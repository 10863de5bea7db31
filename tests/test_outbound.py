"""app.outbound: no call to loopback, private, link-local or metadata addresses, judged on
the URL and again on the addresses its name resolves to; no redirects; bounded reads."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from pydantic import ValidationError

from app.outbound.guard import Policy, Refused, check_url, forbidden
from app.outbound.http import OutboundClient
from app.settings import Settings

REFUSED_ADDRESSES = [
    "127.0.0.1",
    "127.5.5.5",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.1.1",
    "100.64.0.1",
    "100.100.100.200",
    "0.0.0.0",  # noqa: S104 (an address under test, not a bind)
    "224.0.0.1",
    "240.0.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",
    "2002:7f00:1::1",
]


@pytest.mark.parametrize("text", REFUSED_ADDRESSES)
def test_non_public_addresses_are_forbidden(text: str) -> None:
    assert forbidden(ipaddress.ip_address(text)) is not None


@pytest.mark.parametrize("text", ["8.8.8.8", "151.101.1.1", "2606:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_are_not(text: str) -> None:
    assert forbidden(ipaddress.ip_address(text)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/hook",  # plain http
        "ftp://example.org/hook",
        "https://user:pw@example.org/hook",
        "https:///hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:7f00:1]/hook",
        "https://2130706433/hook",  # 127.0.0.1 as one number
        "https://0x7f.1/hook",
        "https://127.1/hook",
        "https://example.org:99999/hook",
    ],
)
def test_urls_refused_by_their_form_or_address(url: str) -> None:
    with pytest.raises(Refused):
        check_url(url, Policy())


def test_an_https_url_to_a_name_passes_the_form_check() -> None:
    target = check_url("https://Hooks.Example.org/nw", Policy())
    assert (target.host, target.port, target.exempt) == ("hooks.example.org", 443, False)


def test_http_only_where_allowed() -> None:
    assert check_url("http://example.org/", Policy(allow_http=True)).scheme == "http"
    with pytest.raises(Refused):  # allowing http allows no private address
        check_url("http://10.0.0.1/", Policy(allow_http=True))
    listed = Policy.parse("127.0.0.1:8080, [::1]:9000")
    assert check_url("http://127.0.0.1:8080/", listed).exempt
    assert check_url("http://[::1]:9000/", listed).exempt
    with pytest.raises(Refused):  # another port of the same host is not listed
        check_url("http://127.0.0.1:8081/", listed)


def test_the_allow_list_setting_is_checked_at_start() -> None:
    assert Settings(webhook_allowed_hosts="127.0.0.1:8080,[::1]:1").webhook_allowed_hosts
    for bad in ("127.0.0.1", "example.org:port", ":80"):
        with pytest.raises(ValidationError):
            Settings(webhook_allowed_hosts=bad)


@dataclass
class Receiver:
    port: int
    seen: list[str] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A receiver on loopback: /ok, /redirect (to /ok), /big (1 MiB), /hang."""
    box: list[Receiver] = []

    async def ok(request: web.Request) -> web.Response:
        box[0].seen.append(request.path)
        return web.json_response({"ok": True})

    async def redirect(request: web.Request) -> web.Response:
        box[0].seen.append(request.path)
        raise web.HTTPFound("/ok")

    async def big(request: web.Request) -> web.Response:
        box[0].seen.append(request.path)
        return web.Response(body=b"x" * 1_048_576)

    async def hang(request: web.Request) -> web.Response:
        box[0].seen.append(request.path)
        await asyncio.sleep(3600)
        return web.Response()

    app = web.Application()
    app.add_routes(
        [
            web.post("/ok", ok),
            web.get("/ok", ok),
            web.post("/redirect", redirect),
            web.post("/big", big),
            web.post("/hang", hang),
        ]
    )
    runner = web.AppRunner(app, shutdown_timeout=0.5)  # /hang is still in flight
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box.append(Receiver(port))
    yield box[0]
    await runner.cleanup()


async def test_loopback_is_refused_at_delivery_unless_listed(receiver: Receiver) -> None:
    port = receiver.port
    unlisted = OutboundClient(Policy(allow_http=True))
    try:
        for url in (f"http://127.0.0.1:{port}/ok", f"http://[::1]:{port}/ok"):
            with pytest.raises(Refused):
                await unlisted.post(url, b"{}", {})
        # A name is judged by what it resolves to: localhost is loopback.
        with pytest.raises(Refused, match="resolves to a loopback address"):
            await unlisted.post(f"http://localhost:{port}/ok", b"{}", {})
    finally:
        await unlisted.close()
    assert receiver.seen == []

    listed = OutboundClient(Policy.parse(f"127.0.0.1:{port}"))
    try:
        answer = await listed.post(f"http://127.0.0.1:{port}/ok", b"{}", {"X-Test": "1"})
        assert answer.status == 200
        assert answer.body == b'{"ok": true}'
        # The exemption is of that host:port, not of whatever resolves to it.
        with pytest.raises(Refused):
            await listed.post(f"http://localhost:{port}/ok", b"{}", {})
    finally:
        await listed.close()
    assert receiver.seen == ["/ok"]


async def test_redirects_are_not_followed_and_answers_are_read_only_so_far(
    receiver: Receiver,
) -> None:
    client = OutboundClient(Policy.parse(f"127.0.0.1:{receiver.port}"), max_read=1024)
    try:
        moved = await client.post(f"http://127.0.0.1:{receiver.port}/redirect", b"{}", {})
        assert moved.status == 302
        big = await client.post(f"http://127.0.0.1:{receiver.port}/big", b"{}", {})
        assert big.status == 200
        assert len(big.body) == 1024
    finally:
        await client.close()
    assert receiver.seen == ["/redirect", "/big"]  # /ok never reached by the redirect


async def test_a_receiver_that_never_answers_times_out(receiver: Receiver) -> None:
    client = OutboundClient(
        Policy.parse(f"127.0.0.1:{receiver.port}"),
        timeout=aiohttp.ClientTimeout(total=1.0, connect=0.5, sock_read=0.5),
    )
    try:
        with pytest.raises(TimeoutError):
            await client.post(f"http://127.0.0.1:{receiver.port}/hang", b"{}", {})
    finally:
        await client.close()
