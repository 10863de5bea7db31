"""Photos of incidents: judged by content, stripped of every piece of metadata, stored
behind a `MediaStore` port (local disk under var/media by default).

Stripping works by re-encoding the pixels alone: EXIF (above all GPS), XMP, IPTC, ICC
and text chunks never reach the stored file. HEIC is stored as JPEG, which every
client can show.
"""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import ForeignKey, Integer, String, Uuid, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, new_id, utcnow
from app.problems import Problem, conflict

pillow_heif.register_heif_opener()
# A photo from a phone is at most ~50 megapixels; anything bigger is a decompression bomb.
Image.MAX_IMAGE_PIXELS = 60_000_000

# Pillow format → (what we store, its media type)
FORMATS = {
    "JPEG": ("JPEG", "image/jpeg"),
    "PNG": ("PNG", "image/png"),
    "WEBP": ("WEBP", "image/webp"),
    "HEIF": ("JPEG", "image/jpeg"),
}


class Media(Base):
    __tablename__ = "media"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    uploader_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MediaStore(Protocol):
    def save(self, key: str, data: bytes) -> None: ...

    def load(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


class LocalMediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def save(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # never a half-written photo under its real name

    def load(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    width: int
    height: int


def clean_image(raw: bytes) -> CleanImage:
    """Decode by content (never by name or header) and re-encode the pixels only."""
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            kind = probe.format
        if kind not in FORMATS:
            raise Problem(
                415, "Photos must be JPEG, PNG, WebP or HEIC.", kind="unsupported-media-type"
            )
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            # Bake the EXIF orientation into the pixels before the EXIF goes.
            upright = ImageOps.exif_transpose(image)
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise Problem(
            415,
            "The file is not a readable JPEG, PNG, WebP or HEIC image.",
            kind="unsupported-media-type",
        ) from exc
    target, content_type = FORMATS[kind]
    if upright.mode in ("P", "PA", "LA"):  # palettes do not survive a bare pixel copy
        upright = upright.convert("RGBA")
    if target == "JPEG" and upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    pixels = Image.new(upright.mode, upright.size)
    pixels.paste(upright)  # a fresh image carries no info dict, so nothing leaks through
    out = io.BytesIO()
    options = {"quality": 90} if target in ("JPEG", "WEBP") else {}
    pixels.save(out, target, **options)
    return CleanImage(out.getvalue(), content_type, pixels.width, pixels.height)


async def count_for(session: AsyncSession, incident_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(Media).where(Media.incident_id == incident_id)
        )
        or 0
    )


async def attach(
    session: AsyncSession,
    store: MediaStore,
    incident_id: uuid.UUID,
    uploader_id: uuid.UUID,
    raw: bytes,
    max_photos: int,
) -> Media:
    if await count_for(session, incident_id) >= max_photos:
        raise conflict(f"A report can have at most {max_photos} photos.", kind="too-many-photos")
    clean = await asyncio.to_thread(clean_image, raw)
    media = Media(
        incident_id=incident_id,
        uploader_id=uploader_id,
        content_type=clean.content_type,
        size=len(clean.data),
        width=clean.width,
        height=clean.height,
        storage_key=uuid.uuid4().hex,
    )
    session.add(media)
    await session.flush()
    # Written last: if the transaction fails after this, an orphan file may remain, but a
    # row never points at a missing file.
    await asyncio.to_thread(store.save, media.storage_key, clean.data)
    return media
