"""The layers of DESIGN §3, checked on the imports: domains write to the outbox and
import no channel; the push sender port imports no adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
DOMAINS = ["alerts", "auth", "devices", "evidence", "geo", "groups", "incidents"]
CHANNELS = ("app.push", "app.realtime", "app.webhooks")


def imported(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("domain", DOMAINS)
def test_no_domain_imports_a_channel(domain: str) -> None:
    offending = {
        f"{path.relative_to(APP)}: {name}"
        for path in (APP / domain).rglob("*.py")
        for name in imported(path)
        if name.startswith(CHANNELS)
    }
    assert offending == set()


def test_the_outbox_imports_no_domain_nor_channel() -> None:
    offending = {
        f"{path.relative_to(APP)}: {name}"
        for path in (APP / "outbox").rglob("*.py")
        for name in imported(path)
        if name.startswith(CHANNELS + tuple(f"app.{d}" for d in DOMAINS))
    }
    assert offending == set()


def test_the_push_port_imports_no_adapter() -> None:
    adapters = ("app.push.adapters", "app.push.fcm", "app.push.fcm_http", "app.push.shaping")
    assert {n for n in imported(APP / "push" / "senders.py") if n.startswith(adapters)} == set()
