"""Sign-in with a Firebase Auth ID token: verified by firebase-admin, answered with ours.

`verify_id_token` fetches Google's public certificates with blocking `requests` (cached
by the SDK), so it runs in a thread. With FIREBASE_AUTH_EMULATOR_HOST set the SDK
accepts unsigned emulator tokens; `Settings.check()` refuses that in the scaled shape.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import firebase_admin
from firebase_admin import auth, credentials
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import Role, User
from app.problems import Problem, conflict, unauthenticated
from app.settings import Settings

CLOCK_SKEW_S = 30


@dataclass(frozen=True)
class FirebaseIdentity:
    uid: str
    email: str | None  # only when Firebase says it is verified
    name: str | None


class FirebaseVerifier:
    def __init__(self, settings: Settings) -> None:
        options: dict[str, Any] = {"httpTimeout": 10}
        if settings.firebase_project_id:
            options["projectId"] = settings.firebase_project_id
        cred = (
            credentials.Certificate(str(settings.firebase_credentials))
            if settings.firebase_credentials
            else None  # Application Default Credentials (or the emulator's stand-in)
        )
        self.app = firebase_admin.initialize_app(cred, options, name=f"nw-auth-{uuid.uuid4().hex}")

    def close(self) -> None:
        firebase_admin.delete_app(self.app)

    async def verify(self, id_token: str) -> FirebaseIdentity:
        try:
            claims: dict[str, Any] = await asyncio.to_thread(
                auth.verify_id_token, id_token, self.app, False, CLOCK_SKEW_S
            )
        except (ValueError, auth.InvalidIdTokenError) as exc:  # expired is a subclass
            raise unauthenticated("The Firebase ID token is not valid.") from exc
        except auth.CertificateFetchError as exc:
            raise Problem(
                503, "Firebase's signing keys could not be fetched; try again.", kind="upstream"
            ) from exc
        # The emulator's tokens are not checked by the SDK at all: their times are, here.
        now = time.time()
        if not claims.get("exp", 0) > now - CLOCK_SKEW_S:
            raise unauthenticated("The Firebase ID token has expired.")
        email = claims.get("email") if claims.get("email_verified") is True else None
        return FirebaseIdentity(
            uid=str(claims["uid"]),
            email=str(email).lower() if email else None,
            name=claims.get("name"),
        )


def _digest(uid: str) -> str:
    """Firebase uids are case-sensitive and our emails are not: hash, then use."""
    return hashlib.sha256(uid.encode()).hexdigest()[:32]


def firebase_configured(settings: Settings) -> bool:
    return bool(settings.firebase_credentials or settings.firebase_project_id)


async def sign_in(session: AsyncSession, identity: FirebaseIdentity) -> User:
    """The account linked to this Firebase uid; else the one with its verified email,
    which is linked now; else a new resident."""
    user = (
        await session.execute(select(User).where(col(User.firebase_uid) == identity.uid))
    ).scalar_one_or_none()
    if user is not None:
        return user
    if identity.email:
        user = (
            await session.execute(select(User).where(col(User.email) == identity.email))
        ).scalar_one_or_none()
        if user is not None:
            if user.firebase_uid is not None:
                raise conflict(
                    "This email belongs to an account linked to another Firebase user.",
                    kind="firebase-link-conflict",
                )
            user.firebase_uid = identity.uid
            await session.flush()
            return user
    user = User(
        # Without a verified email the account gets an address that cannot receive mail,
        # so nobody can claim someone else's address by an unverified Firebase sign-up.
        email=identity.email or f"firebase-{_digest(identity.uid)}@users.invalid",
        password_hash=None,
        display_name=(identity.name or (identity.email or "Resident").split("@")[0])[:80],
        role=Role.resident.value,
        firebase_uid=identity.uid,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same first sign-in, twice at once
        raise conflict("This account was just created; sign in again.") from exc
    return user
