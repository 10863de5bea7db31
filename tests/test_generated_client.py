"""A client generated from the committed OpenAPI document works, typed, against the server.

openapi-python-client generates a package from openapi/openapi.json; mypy --strict
checks it together with a driver (tests/generated_client/driver.py) that uses it as an
integrator would; the driver then runs against a live server (uvicorn on a loopback port,
SQLite) through sign-in, a group, a report, listing reports as JSON and GeoJSON, an
alert, client credentials and a webhook subscription.
Whatever the document gets wrong, a generated client shows: a response it cannot parse
(`parsed` None, or the wrong model), a field typed `Any`, a request it cannot make.

Slow (subprocesses: the generator, mypy over ~200 generated modules, the driver), so
marked `slow`; SQLite only, as the point is the document, the same on both backends.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from app.auth import service
from app.main import create_app
from app.settings import Settings
from tests import databases
from tests.conftest import settings_for

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "openapi" / "openapi.json"
DRIVER = Path(__file__).with_name("generated_client") / "driver.py"
PACKAGE = "nwc"
# Literal enums: the tz database's zone names (`GMT+0`, `GMT-0`, `GMT0`) make duplicate
# Python enum member names, which the generator refuses; literals are the better type.
CONFIG = (
    f"literal_enums: true\nproject_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\n"
)
ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.slow


def _generator() -> str:
    found = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    if found is None:
        message = "openapi-python-client is not installed (pip install -e '.[dev]')"
        if databases.REQUIRE_SERVICES:
            pytest.fail(f"{message} and NW_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    return found


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH of ours: the generated package and the driver stand alone.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(cwd)
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the generated package and the driver."""
    generator = _generator()
    work = tmp_path_factory.mktemp("generated-client")
    (work / "config.yaml").write_text(CONFIG)
    (work / "mypy.ini").write_text("[mypy]\n")  # the flags are given; none of ours apply
    made = _run(
        [
            generator,
            "generate",
            "--path",
            str(DOCUMENT),
            "--meta",
            "none",
            "--output-path",
            str(work / PACKAGE),
            "--config",
            str(work / "config.yaml"),
        ],
        work,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    shutil.copy(DRIVER, work / "driver.py")
    return work


@pytest.fixture(scope="module")
def live_server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread; its base URL."""
    directory = tmp_path_factory.mktemp("live")
    with pytest.MonkeyPatch.context() as env:
        # The webhook subscription's receiver (never called: only the URL is judged).
        env.setenv("NW_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1:9")
        settings: Settings = settings_for(
            databases.sqlite_clone(sqlite_template, directory), directory / "var"
        )

    async def seed() -> None:
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            app.state.sessionmaker() as session,
            session.begin(),
        ):
            await service.create_admin(
                session, app.state.auth, ADMIN_EMAIL, ADMIN_PASSWORD, "Admin"
            )

    asyncio.run(seed())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def test_the_generated_client_and_the_driver_type_check_strictly(generated: Path) -> None:
    files = ["driver.py", PACKAGE]
    checked = _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(generated / "mypy.ini"),
            "--cache-dir",
            str(generated / ".mypy_cache"),
            *files,
        ],
        generated,
        timeout=600,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # `Any` leaking out of a parsed answer into the driver (an untyped object, a
    # response the generator could not type) is an error too.
    strict_driver = _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--disallow-any-expr",
            "--follow-imports",
            "silent",
            "--config-file",
            str(generated / "mypy.ini"),
            "--cache-dir",
            str(generated / ".mypy_cache"),
            "driver.py",
        ],
        generated,
        timeout=600,
    )
    assert strict_driver.returncode == 0, strict_driver.stdout + strict_driver.stderr


def test_the_generated_client_drives_the_live_server(generated: Path, live_server: str) -> None:
    ran = _run(
        [sys.executable, "driver.py", live_server, ADMIN_EMAIL, ADMIN_PASSWORD],
        generated,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.splitlines()[-1] == "ok", ran.stdout
    assert "listed reports as JSON and as GeoJSON" in ran.stdout
