"""`nwatch`: serve, worker, migrate, openapi, create-admin, verify-group, purge."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from app.settings import Settings


def _ensure_sqlite_dir(settings: Settings) -> None:
    if settings.is_sqlite and ":///" in settings.database_url:
        path = settings.database_url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.logs import configure_logging

    settings = Settings()
    settings.check()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # Off: uvicorn would take the client from X-Forwarded-For for any peer in
        # FORWARDED_ALLOW_IPS (loopback by default), and a made-up header sent through a
        # local hop would dodge every per-address limit. The app reads the header itself,
        # only from NW_TRUSTED_PROXIES (app.middleware.client_address).
        proxy_headers=False,
        # wsproto: measured at 39 KiB per open WebSocket against 70 KiB for uvicorn's
        # websockets-sansio (bench/ws_fanout.py holds 5,000 of them).
        ws="wsproto",
        # No permessage-deflate: a zlib compressor kept per connection from its first
        # event on cost 96 KiB and ~300 µs to set up each (bench/ws_fanout.py: 142 KiB
        # a connection after one event, p99 2.2 s), to shrink events of a few hundred
        # bytes.
        ws_per_message_deflate=False,
        # A bigger client message is refused while it arrives, closing with 1009 (the
        # app checks again, for servers that do not).
        ws_max_size=settings.ws_max_message_bytes,
        log_config=None,
        access_log=False,
    )
    return 0


def cmd_worker(_args: argparse.Namespace) -> int:
    """The channels (push dispatcher, webhooks) and the CAP poller as their own process
    (scaled shape); stops cleanly on SIGTERM."""
    import signal

    from app.channels import run_channels
    from app.db import create_sessionmaker, long_running_engine
    from app.integrations.cap_in.poller import run_poller
    from app.logs import configure_logging
    from app.main import collector_tuned_for_serving

    settings = Settings()
    settings.check()
    configure_logging(settings.log_level, settings.log_format)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with long_running_engine(settings) as engine:
            sessionmaker = create_sessionmaker(engine)
            await asyncio.gather(
                run_channels(settings, sessionmaker, stop),
                run_poller(settings, sessionmaker, stop),
            )

    # On uvloop, as `serve` is (uvicorn picks it): the plain asyncio loop's task and
    # transport bookkeeping took a fifth of a worker's CPU at thousands of pushes a second.
    with collector_tuned_for_serving(), asyncio.Runner(loop_factory=_fast_loop_factory()) as runner:
        runner.run(run())
    return 0


def _fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it, except where it does not build
        return None
    return uvloop.new_event_loop


def cmd_migrate(_args: argparse.Namespace) -> int:
    from app.migrate import upgrade

    settings = Settings()
    _ensure_sqlite_dir(settings)
    upgrade(settings.database_url)
    print(f"migrated {settings.shape} database to head", file=sys.stderr)
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from pydantic import SecretStr

    from app.main import create_app
    from app.openapi import stable

    # The document does not depend on the deployment: build it from a throwaway config,
    # so that generating it needs no secrets and touches no database.
    settings = Settings(database_url="sqlite+aiosqlite://", jwt_secret=SecretStr("o" * 32))
    document = json.dumps(stable(create_app(settings).openapi()), indent=2) + "\n"
    if args.check:
        current = Path(args.output).read_text() if Path(args.output).exists() else ""
        if current != document:
            print(f"{args.output} is stale: run `nwatch openapi`", file=sys.stderr)
            return 1
        return 0
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(document)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    from app.auth import service
    from app.auth.passwords import PasswordHasher, check_password
    from app.auth.tokens import TokenService
    from app.db import create_engine, create_sessionmaker
    from app.ratelimit import memory_limiter

    settings = Settings()
    password = os.environ.get("NW_ADMIN_PASSWORD") or getpass.getpass("Password: ")
    try:
        check_password(password)  # the same rules as registration
    except ValueError as exc:
        print(f"the password {exc}", file=sys.stderr)
        return 2

    async def run() -> bool:
        engine = create_engine(settings)
        ctx = service.AuthContext(
            settings,
            TokenService(settings),
            PasswordHasher(settings.password_hash_time_cost, settings.password_hash_memory_kib),
            memory_limiter(),
        )
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                _, created = await service.create_admin(
                    session, ctx, args.email, password, args.display_name
                )
                return created
        finally:
            await engine.dispose()

    created = asyncio.run(run())
    print(f"{'created' if created else 'promoted'} admin {args.email}", file=sys.stderr)
    return 0


def cmd_verify_group(args: argparse.Namespace) -> int:
    """An operator's decision on a group, recorded and told to its owner like an officer's."""
    import uuid

    from app.db import create_engine, create_sessionmaker
    from app.groups import service
    from app.groups.models import Group
    from app.groups.schemas import VerificationDecide
    from app.problems import Problem

    settings = Settings()
    try:
        group_id = uuid.UUID(args.group_id)
        decision = VerificationDecide(decision=args.decision, note=args.note)
    except ValueError as exc:
        print(f"invalid input: {exc}", file=sys.stderr)
        return 2

    async def run() -> str:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                group = await session.get(Group, group_id)
                if group is None or group.archived_at is not None:
                    raise Problem(404, "no such group")
                await service.decide_verification(session, group, None, decision)
                return group.name
        finally:
            await engine.dispose()

    try:
        name = asyncio.run(run())
    except Problem as exc:
        print(f"not done: {exc.detail or exc.title}", file=sys.stderr)
        return 1
    print(f"{name} ({group_id}): {args.decision}", file=sys.stderr)
    return 0


def cmd_purge(_args: argparse.Namespace) -> int:
    """Apply the retention settings once (the dispatcher also does, daily); prints what
    each rule removed, one `name: count (what)` line per rule."""
    from app.db import create_engine, create_sessionmaker
    from app.logs import configure_logging
    from app.retention import Policy, purge

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    policy = Policy.of(settings)

    async def run() -> list[str]:
        engine = create_engine(settings)
        try:
            return (await purge(create_sessionmaker(engine), policy)).lines(policy)
        finally:
            await engine.dispose()

    for line in asyncio.run(run()):
        print(line)
    return 0


def cmd_import_police_data(args: argparse.Namespace) -> int:
    """Import police.uk street-level CSV or crimes-street JSON files; prints a summary."""
    from app.db import create_engine, create_sessionmaker
    from app.evidence.importer import import_files
    from app.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    paths = [Path(p) for p in args.files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()

    def progress(rows: int) -> None:
        if tty:  # a counter that rewrites itself; nothing when piped
            print(f"\r{rows:,} rows imported", end="", file=sys.stderr, flush=True)

    async def run() -> list[str]:
        engine = create_engine(settings)
        try:
            summary = await import_files(create_sessionmaker(engine), paths, progress)
        finally:
            await engine.dispose()
        return summary.lines()

    try:
        lines = asyncio.run(run())
    except ValueError as exc:  # a file of the wrong shape: nothing after it was imported
        print(f"\nrefused: {exc}", file=sys.stderr)
        return 1
    if tty:
        print(file=sys.stderr)
    for line in lines:
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nwatch", description="Neighbourwatch API")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker", help="run the push dispatcher and the webhook channel (scaled shape)"
    )
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="migrate the database to the newest revision")
    migrate.set_defaults(func=cmd_migrate)

    openapi = sub.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", default="openapi/openapi.json")
    openapi.add_argument("--check", action="store_true", help="fail if the file is stale")
    openapi.set_defaults(func=cmd_openapi)

    admin = sub.add_parser("create-admin", help="create or promote an admin account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--display-name", default="Administrator")
    admin.set_defaults(func=cmd_create_admin)

    verify = sub.add_parser("verify-group", help="verify, reject or suspend a watch group")
    verify.add_argument("group_id", metavar="ID")
    verify.add_argument(
        "--decision", choices=["verified", "rejected", "suspended"], default="verified"
    )
    verify.add_argument("--note", help="the reason (required to reject or suspend)")
    verify.set_defaults(func=cmd_verify_group)

    purge = sub.add_parser(
        "purge", help="apply the retention settings now (the dispatcher does it daily)"
    )
    purge.set_defaults(func=cmd_purge)

    police = sub.add_parser(
        "import-police-data",
        help="import police.uk street-level CSV files or crimes-street JSON answers",
    )
    police.add_argument("files", nargs="+", metavar="FILE")
    police.set_defaults(func=cmd_import_police_data)

    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
