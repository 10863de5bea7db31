"""Photos: judged by content, stripped of all metadata (GPS above all), shown to viewers only."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import httpx
import pillow_heif
from fastapi import FastAPI
from PIL import Image, ImageDraw, PngImagePlugin
from sqlalchemy import func, select

from app.incidents.media import Media
from tests.auth.factories import new_account
from tests.conftest import AppFactory
from tests.groups.factories import join, new_group
from tests.incidents.factories import report

GPS_IFD = 0x8825


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotated 90°
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 26.0), 3: "W", 4: (0.0, 7.0, 39.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(out.getvalue())).getexif().get_ifd(GPS_IFD)  # the control
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    incident_id: str,
    data: bytes,
    name: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> httpx.Response:
    return await client.post(
        f"/v1/incidents/{incident_id}/media",
        headers=headers,
        files={"file": (name, data, content_type)},
    )


async def test_gps_and_all_metadata_are_gone_from_the_stored_bytes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann = await new_account(client)
    incident = (await report(client, ann)).json()
    answer = await upload(client, ann.headers, incident["id"], jpeg_with_gps())
    assert answer.status_code == 201, answer.text
    media = answer.json()
    assert media["content_type"] == "image/jpeg"
    # Orientation 6 was baked into the pixels: 64x48 became 48x64.
    assert (media["width"], media["height"]) == (48, 64)
    stored = await client.get(media["url"], headers=ann.headers)
    assert stored.status_code == 200
    assert stored.headers["content-type"] == "image/jpeg"
    assert media["size"] == len(stored.content)
    image = Image.open(io.BytesIO(stored.content))
    assert dict(image.getexif()) == {}
    assert not image.getexif().get_ifd(GPS_IFD)
    assert b"Exif" not in stored.content
    assert b"PhoneMaker" not in stored.content


async def test_png_text_chunks_and_heic(app: FastAPI, client: httpx.AsyncClient) -> None:
    ann = await new_account(client)
    incident = (await report(client, ann)).json()
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at 12 Elm Street")
    png = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 255, 128)).save(png, "PNG", pnginfo=info)
    # The name and declared type lie; the content decides.
    answer = await upload(
        client, ann.headers, incident["id"], png.getvalue(), "x.jpg", "image/jpeg"
    )
    assert answer.json()["content_type"] == "image/png"
    stored = await client.get(answer.json()["url"], headers=ann.headers)
    assert b"Elm Street" not in stored.content
    heic = io.BytesIO()
    pillow_heif.register_heif_opener()
    Image.new("RGB", (16, 16), "green").save(heic, "HEIF")
    converted = await upload(
        client, ann.headers, incident["id"], heic.getvalue(), "a.heic", "image/heic"
    )
    assert converted.status_code == 201, converted.text
    assert converted.json()["content_type"] == "image/jpeg"


async def test_fakes_oversized_and_too_many_are_refused(app_factory: AppFactory) -> None:
    async with app_factory(max_photo_bytes=50_000, max_photos_per_incident=2) as (_app, client):
        ann = await new_account(client)
        incident = (await report(client, ann)).json()
        fake = await upload(client, ann.headers, incident["id"], b"\xff\xd8\xff" + b"x" * 500)
        assert fake.status_code == 415
        assert fake.headers["content-type"] == "application/problem+json"
        text = await upload(client, ann.headers, incident["id"], b"hello", "a.jpg")
        assert text.status_code == 415
        noise = io.BytesIO()
        Image.effect_noise((400, 400), 100).convert("RGB").save(noise, "PNG")
        assert len(noise.getvalue()) > 50_000
        big = await upload(
            client, ann.headers, incident["id"], noise.getvalue(), "n.png", "image/png"
        )
        assert big.status_code == 413
        for _ in range(2):
            assert (
                await upload(client, ann.headers, incident["id"], jpeg_with_gps())
            ).status_code == 201
        third = await upload(client, ann.headers, incident["id"], jpeg_with_gps())
        assert third.status_code == 409


async def test_photo_access(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner, reporter, member, outsider = (
        await new_account(client),
        await new_account(client),
        await new_account(client),
        await new_account(client),
    )
    group = await new_group(client, owner, join_policy="open")
    for person in (reporter, member):
        await join(client, person, group["id"])
    incident = (await report(client, reporter)).json()
    media = (await upload(client, reporter.headers, incident["id"], jpeg_with_gps())).json()
    assert (await client.get(media["url"], headers=member.headers)).status_code == 200
    assert (await client.get(media["url"], headers=owner.headers)).status_code == 200
    assert (await client.get(media["url"], headers=outsider.headers)).status_code == 404
    assert (
        await upload(client, member.headers, incident["id"], jpeg_with_gps())
    ).status_code == 403
    assert (
        await upload(client, outsider.headers, incident["id"], jpeg_with_gps())
    ).status_code == 404


def palette_png(width: int, height: int) -> bytes:
    """A valid 8-bit palette PNG of one colour, written row by row with zlib so that the
    test never holds the pixels: 10,900 x 10,900 compresses to ~115 KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then palette index 0 for every pixel
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)),
            chunk(b"PLTE", b"\xff\x00\x00\x00\x00\xff"),
            chunk(b"IDAT", idat),
            chunk(b"IEND", b""),
        )
    )


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def media_rows(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Media)) or 0)


async def test_a_pixel_flood_is_refused_before_it_is_decoded(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ann = await new_account(client)
    incident = (await report(client, ann)).json()
    flood = palette_png(10_900, 10_900)
    assert len(flood) < 200_000  # small on the wire, 119 megapixels once decoded
    answer = await upload(client, ann.headers, incident["id"], flood, "p.png", "image/png")
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith(":too-many-pixels")
    assert "10900 x 10900" in problem["detail"]
    assert "50 megapixels" in problem["detail"]
    assert stored_files(tmp_path / "var" / "media") == []
    assert await media_rows(app) == 0


async def test_a_header_beyond_pillows_own_limit_is_the_same_problem(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """An RGBA header claiming 40,000 x 40,000 pixels (Pillow's DecompressionBombError
    territory) with no pixel data: the same clear 413, never a 415 or a 500."""
    ann = await new_account(client)
    incident = (await report(client, ann)).json()
    header = palette_png(1, 1).replace(
        struct.pack(">IIBBBBB", 1, 1, 8, 3, 0, 0, 0),
        struct.pack(">IIBBBBB", 40_000, 40_000, 8, 6, 0, 0, 0),
    )
    ihdr = header[12:29]
    header = header[:29] + struct.pack(">I", zlib.crc32(ihdr)) + header[33:]
    answer = await upload(client, ann.headers, incident["id"], header, "p.png", "image/png")
    assert answer.status_code == 413, answer.text
    assert answer.json()["type"].endswith(":too-many-pixels")


async def test_a_48_megapixel_photo_is_stored_downscaled_and_stripped(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ann = await new_account(client)
    incident = (await report(client, ann)).json()
    image = Image.new("L", (8000, 6000), 90)
    ImageDraw.Draw(image).rectangle((1000, 1000, 5000, 4000), fill=200)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0112] = 6  # rotated 90°: stored upright, so portrait
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 26.0), 3: "W", 4: (0.0, 7.0, 39.0)})
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=80, exif=exif.tobytes())
    answer = await upload(client, ann.headers, incident["id"], jpeg.getvalue())
    assert answer.status_code == 201, answer.text
    media = answer.json()
    assert (media["width"], media["height"]) == (1920, 2560)
    stored = await client.get(media["url"], headers=ann.headers)
    [path] = stored_files(tmp_path / "var" / "media")
    assert path.read_bytes() == stored.content
    with Image.open(path) as kept:
        assert kept.size == (1920, 2560)
        assert dict(kept.getexif()) == {}
    assert b"PhoneMaker" not in stored.content


async def test_heic_goes_through_the_same_limits(app_factory: AppFactory) -> None:
    heic = io.BytesIO()
    pillow_heif.register_heif_opener()
    Image.new("RGB", (400, 200), "green").save(heic, "HEIF")
    async with app_factory(photo_max_side_px=100) as (_app, client):
        ann = await new_account(client)
        incident = (await report(client, ann)).json()
        small = await upload(client, ann.headers, incident["id"], heic.getvalue(), "a.heic")
        assert small.status_code == 201, small.text
        assert (small.json()["width"], small.json()["height"]) == (100, 50)
    async with app_factory(max_photo_megapixels=0.05) as (_app, client):
        ann = await new_account(client)
        incident = (await report(client, ann)).json()
        big = await upload(client, ann.headers, incident["id"], heic.getvalue(), "a.heic")
        assert big.status_code == 413, big.text
        assert big.json()["type"].endswith(":too-many-pixels")
