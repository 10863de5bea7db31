"""The documentation pages work on a closed network: every script, style sheet and
image they load is served by the app itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

# Attributes through which a page fetches something as it loads.
LOADING = {("script", "src"), ("link", "href"), ("img", "src")}


class _Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if (tag, k) in LOADING and v]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_loads_only_what_the_app_serves(
    page: str, client: httpx.AsyncClient
) -> None:
    answer = await client.get(page)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    # No absolute URL anywhere in the page, be it in a tag or in its inline script.
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", answer.text), answer.text
    parser = _Loads()
    parser.feed(answer.text)
    scripts = [url for url in parser.urls if url.endswith(".js")]
    assert scripts, "the page loads no script"
    for url in parser.urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
        refused = await client.post(url)
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, HEAD"
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == "Neighbourwatch API"
