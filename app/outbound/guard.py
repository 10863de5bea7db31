"""Which addresses the service may call out to: server-side request forgery refused.

Webhooks (and CAP sources) are URLs that somebody else chose. Left alone, one of them
could make this service call its own admin port, a database beside it, or the cloud's
metadata service and hand back its credentials (OWASP API7:2023). So an outbound URL
is `https` (plain `http` only where a setting allows it), carries no credentials, and
its host, once resolved, must have only public addresses: one loopback, private,
link-local, multicast, shared (CGNAT), reserved or metadata address among them refuses
the whole name. The check is made on the addresses the connection then uses
(`GuardedResolver`), never on a second lookup that DNS rebinding could answer
differently.

`NW_WEBHOOK_ALLOWED_HOSTS` lists `host:port` pairs exempt from all of it (tests, and a
receiver on the operator's own network); empty by default.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from app.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services that sit at addresses the stdlib counts as global or that
# deserve a name of their own in the refusal.
METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("192.0.0.192"),  # Oracle Cloud
}
# NAT64 carries an IPv4 address inside an IPv6 one (as IPv4-mapped and 6to4 addresses
# do, which the stdlib unpacks): the embedded address is judged too.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """An outbound URL or address this service will not call; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Policy:
    allowed: frozenset[tuple[str, int]] = frozenset()  # host (lower case), port
    allow_http: bool = False

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls.parse(settings.webhook_allowed_hosts, settings.webhook_allow_http)

    @classmethod
    def parse(cls, allowed_hosts: str, allow_http: bool = False) -> Policy:
        """`allowed_hosts`: comma-separated `host:port` (IPv6 in brackets)."""
        pairs: set[tuple[str, int]] = set()
        for item in (part.strip() for part in allowed_hosts.split(",")):
            if not item:
                continue
            parsed = urlsplit(f"//{item}")
            try:
                port = parsed.port
            except ValueError as exc:
                raise ValueError(f"{item!r}: the port is not a number") from exc
            if not parsed.hostname or port is None:
                raise ValueError(f"{item!r} is not host:port")
            pairs.add((parsed.hostname.lower(), port))
        return cls(frozenset(pairs), allow_http)

    def exempt(self, host: str, port: int) -> bool:
        return (host.lower().strip("[]"), port) in self.allowed


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int
    exempt: bool  # listed in NW_WEBHOOK_ALLOWED_HOSTS


def forbidden(address: IPAddress) -> str | None:
    """Why this address may not be called, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            why = forbidden(embedded)
            return f"{why} (inside {address})" if why else None
    if address in METADATA:
        return "a cloud metadata address"
    for test, name in (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
    ):
        if test:
            return name
    if not address.is_global:  # e.g. 100.64.0.0/10, shared address space (CGNAT)
        return "not a public address"
    return None


def check_url(url: str, policy: Policy) -> Target:
    """Refuse a URL by its form and, when its host is an address, by that address.
    A host name is judged when it is resolved (`check_addresses`)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise Refused("only https URLs are allowed")
    if not parts.hostname:
        raise Refused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise Refused("the URL may not carry a user name or password")
    host = parts.hostname.lower()
    port = port or (443 if scheme == "https" else 80)
    exempt = policy.exempt(host, port)
    if scheme == "http" and not (exempt or policy.allow_http):
        raise Refused("only https URLs are allowed")
    if not exempt:
        literal = _literal(parts)
        if literal is not None and (why := forbidden(literal)):
            raise Refused(f"{host} is {why}")
    return Target(url, scheme, host, port, exempt)


def _literal(parts: SplitResult) -> IPAddress | None:
    host = parts.hostname or ""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    # Legacy IPv4 forms (2130706433, 0x7f.1, 127.1) that resolvers map onto addresses.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_addresses(host: str, port: int, addresses: Iterable[str], policy: Policy) -> None:
    """Refuse the name if any address it resolved to may not be called."""
    if policy.exempt(host, port):
        return
    found = False
    for text in addresses:
        found = True
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if why := forbidden(address):
            raise Refused(f"{host} resolves to {why}")
    if not found:
        raise Refused(f"{host} does not resolve")
