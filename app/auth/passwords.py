"""Argon2id password hashing (pwdlib), run off the event loop."""

from __future__ import annotations

import asyncio

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


class PasswordHasher:
    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self._hash = PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib),))
        # Verified against when the account does not exist, so that an unknown email
        # costs as much time as a wrong password and does not reveal who is registered.
        self._dummy = self._hash.hash("not-a-password-of-anyone")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hash.hash, password)

    async def verify(self, password: str, stored: str | None) -> bool:
        if stored is None:
            await asyncio.to_thread(self._hash.verify, password, self._dummy)
            return False
        return await asyncio.to_thread(self._hash.verify, password, stored)
