"""`nwatch serve`: uvicorn cannot be made to take the client address from headers."""

from __future__ import annotations

import pytest
import uvicorn
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import cli, logs


def test_serve_lets_no_header_rewrite_the_client_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    captured: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: captured.update(kw, app=app))
    monkeypatch.setattr(logs, "configure_logging", lambda *_: None)
    # uvicorn's own default trusts loopback hops; an operator may widen it.
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    monkeypatch.setenv("NW_DATABASE_URL", "sqlite+aiosqlite://")
    assert cli.main(["serve"]) == 0
    app = captured.pop("app")
    config = uvicorn.Config(app, **captured)  # type: ignore[arg-type]
    config.load()
    assert not isinstance(config.loaded_app, ProxyHeadersMiddleware)
    # WebSocket messages are bounded by the server as well (1009 beyond).
    assert config.ws_max_size == 64 * 1024
