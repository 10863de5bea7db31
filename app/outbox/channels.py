"""What a channel that expands outbox events itself plugs into the dispatcher.

The push dispatcher claims each outbox event under a lease; a channel with deliveries of
its own (webhooks) is handed the ids of the events it claims, before their push
expansion, and writes its delivery rows in transactions of its own. It must be idempotent
(an event whose lease ran out is handed over again, and so is one whose push expansion
failed) and quick: it writes rows and sends nothing, its own loop (with its own claims
on its own table) does the sending, so that a slow receiver holds no push back. An
exception fails the events, which are retried with backoff as any event that cannot be
expanded.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol


class Fanout(Protocol):
    async def fan_out(self, event_ids: Sequence[uuid.UUID]) -> None:
        """Write this channel's deliveries for these outbox events, and wake its sender."""
        ...
