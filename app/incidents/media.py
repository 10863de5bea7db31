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
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, col

from app.db import TableModel, created_now, new_id
from app.problems import Problem, conflict
from app.settings import Settings

pillow_heif.register_heif_opener()
# A backstop only: `clean_image` refuses anything above NW_MAX_PHOTO_MEGAPIXELS (at most
# 100) from the header, before decoding. Pillow warns above this and refuses at twice it
# (DecompressionBombError, answered as the same 413).
Image.MAX_IMAGE_PIXELS = 100_000_000

# Pillow format → (what we store, its media type)
FORMATS = {
    "JPEG": ("JPEG", "image/jpeg"),
    "PNG": ("PNG", "image/png"),
    "WEBP": ("WEBP", "image/webp"),
    "HEIF": ("JPEG", "image/jpeg"),
}


class Media(TableModel, table=True):
    __tablename__ = "media"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    incident_id: uuid.UUID = Field(foreign_key="incidents.id", ondelete="CASCADE", index=True)
    uploader_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    content_type: str = Field(max_length=32)
    size: int
    width: int
    height: int
    storage_key: str = Field(max_length=128)
    created_at: datetime = created_now()


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


@dataclass(frozen=True)
class PhotoLimits:
    max_megapixels: float
    max_side_px: int

    @classmethod
    def of(cls, settings: Settings) -> PhotoLimits:
        return cls(settings.max_photo_megapixels, settings.photo_max_side_px)

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)


def too_many_pixels(limits: PhotoLimits, size: tuple[int, int] | None = None) -> Problem:
    declared = (
        f"The photo is {size[0]} x {size[1]} pixels ({size[0] * size[1] / 1e6:.1f} megapixels)"
        if size
        else "The photo declares more pixels than any camera takes"
    )
    return Problem(
        413,
        f"{declared}; at most {limits.max_megapixels:g} megapixels are accepted.",
        kind="too-many-pixels",
    )


def _scaled(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def clean_image(raw: bytes, limits: PhotoLimits) -> CleanImage:
    """Decode by content (never by name or header) and re-encode the pixels only.

    The size is judged from the header before a single pixel is decoded; a JPEG is
    decoded at the smallest DCT scale that still covers the stored size (`draft`), and
    every photo is stored at most `limits.max_side_px` on its long side.
    """
    try:
        with Image.open(io.BytesIO(raw)) as image:
            kind = image.format
            if kind not in FORMATS:
                raise Problem(
                    415, "Photos must be JPEG, PNG, WebP or HEIC.", kind="unsupported-media-type"
                )
            if image.width * image.height > limits.max_pixels:
                raise too_many_pixels(limits, image.size)
            if kind == "JPEG":
                image.draft(None, _scaled(image.size, limits.max_side_px))
            image.thumbnail((limits.max_side_px, limits.max_side_px))
            image.load()
            # Bake the EXIF orientation into the pixels before the EXIF goes.
            upright = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as exc:
        raise too_many_pixels(limits) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
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


class PhotoCleaner:
    """Cleans photos off the event loop, at most `concurrency` at once in this process:
    each decode may hold a few hundred MB, so a burst of uploads waits its turn instead of
    exhausting memory."""

    def __init__(self, limits: PhotoLimits, concurrency: int) -> None:
        self.limits = limits
        self._gate = asyncio.Semaphore(concurrency)

    @classmethod
    def of(cls, settings: Settings) -> PhotoCleaner:
        return cls(PhotoLimits.of(settings), settings.photo_decode_concurrency)

    async def clean(self, raw: bytes) -> CleanImage:
        async with self._gate:
            return await asyncio.to_thread(clean_image, raw, self.limits)


async def count_for(session: AsyncSession, incident_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(Media).where(col(Media.incident_id) == incident_id)
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
    cleaner: PhotoCleaner,
) -> Media:
    if await count_for(session, incident_id) >= max_photos:
        raise conflict(f"A report can have at most {max_photos} photos.", kind="too-many-photos")
    clean = await cleaner.clean(raw)
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
