"""The channels that carry outbox events out, run together: the push dispatcher (which
also expands every event for the webhook channel) and the webhook channel's own sender.

In the API process in the embedded shape, in `nwatch worker` in the scaled one.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.push.dispatcher import run_dispatcher
from app.realtime.bus import Bus
from app.settings import Settings
from app.webhooks.channel import channel_for


async def run_channels(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
    bus: Bus | None = None,
) -> None:
    """Until `stop` is set. Each channel has its own loops and claims: a webhook receiver
    that never answers holds no push back."""
    webhooks = channel_for(settings, sessionmaker)
    try:
        await asyncio.gather(
            run_dispatcher(settings, sessionmaker, stop, bus, fanouts=[webhooks.fanout]),
            webhooks.run(stop),
        )
    finally:
        await webhooks.close()
