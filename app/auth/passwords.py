"""Argon2id password hashing (pwdlib), run off the event loop, and the password rules."""

from __future__ import annotations

import asyncio
import functools

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_LENGTH = 8


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of leaked lists, as zxcvbn ranks them (lower case)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def check_password(password: str) -> str:
    """NIST SP 800-63B §3.1.1.2: at least 8 characters, any characters (kept exactly as
    typed: never stripped), and not a value known to be commonly used."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"must have at least {MIN_LENGTH} characters")
    if password.lower() in common_passwords():
        raise ValueError("is one of the most commonly used passwords; choose another")
    return password


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
