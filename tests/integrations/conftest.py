"""A CAP feed on loopback, and an app whose fetch guard lets it (and only it) through."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import AppFactory
from tests.fakes.cap_feed import FeedServer, feed_server


@pytest.fixture
async def feed() -> AsyncIterator[FeedServer]:
    async with feed_server() as server:
        yield server


@pytest.fixture
async def cap_app(
    app_factory: AppFactory, feed: FeedServer
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with app_factory(cap_allowed_hosts=feed.host) as pair:
        yield pair
