"""Runtime settings, read from `NW_*` environment variables.

The defaults describe the embedded shape (SQLite under `var/`, everything in one
process), so `make run` works with no configuration at all. The scaled shape
(PostgreSQL) refuses to start without its secrets: see `Settings.check_scaled`.
"""

from __future__ import annotations

import os
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ConfigurationError(RuntimeError):
    """The settings describe a deployment that must not start."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NW_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///var/neighbourwatch.db"
    redis_url: str | None = None
    var_dir: Path = Path("var")
    public_base_url: str = "http://127.0.0.1:8000"
    # CAP <sender>: globally unique, usually based on a domain name the operator owns.
    cap_sender: str = "alerts@neighbourwatch.invalid"

    # Tokens. HS256 with jwt_secret unless a key pair is configured (EdDSA or RS256,
    # chosen by the key's type).
    jwt_secret: SecretStr | None = None
    jwt_private_key_file: Path | None = None
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "neighbourwatch"
    jwt_audience: str = "neighbourwatch-api"
    access_token_ttl_s: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_s: int = Field(default=30 * 86_400, ge=3_600)

    # Argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile).
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65_536, ge=1024)

    # Failed sign-ins allowed per window before answering 429. Counted per (account,
    # client address) pair (login_failures_per_pair, below) and per address; an account is
    # locked from every address only at this much higher count (OWASP Authentication
    # Cheat Sheet, "Account lockout"), so a stranger cannot lock its owner out.
    login_failures_per_account: int = Field(default=100, ge=1)
    login_failures_per_address: int = Field(default=50, ge=1)
    login_failure_window_s: int = Field(default=900, ge=1)
    # Rate limits (issue 14). Moving windows (the `limits` library), kept in memory
    # (embedded) or in Redis (scaled, NW_REDIS_URL); beyond each one, 429 with Retry-After.
    # Wrong passwords for one account from one address: a guesser's budget there, while
    # the owner elsewhere still signs in.
    login_failures_per_pair: int = Field(default=10, ge=1)
    # Accounts created per client address an hour: fresh accounts would reset every
    # per-user limit.
    registrations_per_address_per_hour: int = Field(default=20, ge=1)
    # Reports per client address an hour, besides incidents_per_hour per user, so that
    # fresh accounts do not add up; above that per-user limit, as a household or a
    # carrier's shared address (CGNAT) holds several honest reporters.
    incidents_per_address_per_hour: int = Field(default=60, ge=1)
    # Groups a user creates a day (each one claims an area and invites people).
    groups_per_user_per_day: int = Field(default=10, ge=1)
    # Alerts (with their updates) an issuer sends an hour: each one pushes to everyone in
    # an area. Agency officers and admins cover whole districts, so they get more.
    alerts_per_issuer_per_hour: int = Field(default=10, ge=1)
    alerts_per_agency_per_hour: int = Field(default=100, ge=1)
    # Updates (sightings, follow-ups) a user adds to reports an hour.
    incident_updates_per_user_per_hour: int = Field(default=60, ge=1)
    # Exports a user (or an admin) builds a day: each reads all of an account, photos too.
    exports_per_user_per_day: int = Field(default=10, ge=1)
    # Area statistics (GET /v1/areas/stats) a user asks for an hour: each answer is a
    # count over an area of their choosing, so many of them could be differenced.
    area_stats_per_user_per_hour: int = Field(default=60, ge=1)
    # Changes an admin or agency officer makes to the prevention library a day (adding,
    # changing, deleting actions), and the actions a category may hold besides ours, so
    # that the list a resident picks from stays short enough to read.
    prevention_edits_per_user_per_day: int = Field(default=100, ge=1)
    max_prevention_actions_per_category: int = Field(default=30, ge=1)
    # Join requests a user sends to one group a day: each notifies its coordinators.
    join_requests_per_group_per_day: int = Field(default=5, ge=1)
    # API clients (client credentials): tokens one client may be issued an hour (a
    # client should keep its token until it expires, not fetch one per call), and
    # requests it may make a minute to the operations its scopes open. Failed client
    # authentications count against the sign-in failure limits above.
    client_tokens_per_hour: int = Field(default=60, ge=1)
    client_requests_per_minute: int = Field(default=600, ge=1)
    # Reports an API client with `incidents:write` files an hour on residents' behalf (a
    # council's own reporting form, many people behind one client), and alerts (with
    # updates) one with `alerts:write` sends an hour, as an agency officer does.
    incidents_per_client_per_hour: int = Field(default=600, ge=1)
    # Open311 GeoReport v2 (app.integrations.open311): our one jurisdiction id, whether a
    # client must name it (the spec's 400 when missing), and reads per client address a
    # minute (its GET /requests is public and each one searches 90 days of reports).
    open311_jurisdiction: str = Field(default="neighbourwatch", min_length=1, max_length=64)
    open311_jurisdiction_required: bool = False
    open311_reads_per_address_per_minute: int = Field(default=120, ge=1)
    # Active push devices per user; registering one more deactivates the least recently
    # seen (no phone is refused, and the push fan-out per user stays bounded).
    max_devices_per_user: int = Field(default=20, ge=1)
    # Open WebSocket connections per user: when one more authenticates, the oldest is
    # closed (1008). Each connection holds memory and a share of every fan-out.
    ws_connections_per_user: int = Field(default=10, ge=1)
    # The largest message a WebSocket client may send (ours are a few hundred bytes);
    # a bigger one closes the connection with 1009.
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=1024)
    # Peers whose X-Forwarded-For is believed (addresses or CIDR networks, comma
    # separated): the reverse proxies in front of the API. Default none: the client
    # address is the TCP peer, and a made-up header cannot dodge a per-address limit.
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()

    # Geography: the largest polygon area accepted, and the privacy grid for locations.
    max_area_km2: float = Field(default=2_500.0, gt=0)
    # An agency's jurisdiction may be a whole police force area.
    max_jurisdiction_km2: float = Field(default=50_000.0, gt=0)
    snap_cell_m: float = Field(default=250.0, ge=50)
    # Anyone may start a group; until an officer vets it, a resident may own only a few,
    # each over no more than a neighbourhood.
    max_unverified_groups: int = Field(default=3, ge=0)
    max_unverified_area_km2: float = Field(default=10.0, gt=0)

    # Incident reports a user may submit per hour (429 beyond), and their photos.
    incidents_per_hour: int = Field(default=20, ge=1)
    max_photo_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Corroboration (app.incidents.clusters): reports of one category this close in place
    # (exact points) and in time (occurred_at) form a cluster, chained transitively.
    corroboration_radius_m: float = Field(default=150.0, gt=0, le=5_000)
    corroboration_window_h: float = Field(default=6.0, gt=0, le=720)
    # Candidates examined for a new report's links, a spot: what bounds the work a flood
    # of reports at one spot makes (beyond it, a merge only older reports would make can
    # be missed; a new report still joins a cluster when it has any link).
    corroboration_max_candidates: int = Field(default=200, ge=10, le=10_000)
    # GET /v1/incidents/similar per user and per client address an hour: each answer says
    # what lies near a point, so probing is metered besides being coarse by design.
    similar_per_user_per_hour: int = Field(default=60, ge=1)
    similar_per_address_per_hour: int = Field(default=300, ge=1)
    max_photos_per_incident: int = Field(default=5, ge=1)

    # Photos and alert reach (issue 14)
    # A photo's pixels, read from its header and refused above this before decoding: a
    # small PNG can declare 119 megapixels and take gigabytes once decoded. Phones take
    # at most ~50. (Pillow's own bomb check stops anything above 100 regardless.)
    max_photo_megapixels: float = Field(default=50.0, gt=0, le=100)
    # The long side of a stored photo: enough for any screen, and what is kept and served.
    photo_max_side_px: int = Field(default=2560, ge=16, le=10_000)
    # Photos decoded at once per process; each may take a few hundred MB while it is.
    photo_decode_concurrency: int = Field(default=2, ge=1, le=64)
    # The smallest alert a coordinator may issue (circle radius; polygons at least the
    # same area): a smaller one would tell its issuer, through the reach figures, whether
    # anyone watches a single house. Agency officers and admins keep 25 m.
    min_alert_radius_m: float = Field(default=200.0, ge=25, le=50_000)

    # Check verified groups for rising crime weekly, in the dispatcher process, and tell
    # their coordinators (app.evidence.checks).
    evidence_checks: bool = True

    # Run the push dispatcher inside the API process. Default: yes in the embedded shape
    # (SQLite has a single claimer), no in the scaled one (run `nwatch worker`).
    dispatcher_in_process: bool | None = None

    # Push. With a service-account file, pushes go through Firebase Cloud Messaging;
    # without one, the log sender records them as sent. The endpoint is FCM's unless a
    # test or a proxy needs another.
    firebase_credentials: Path | None = None
    fcm_endpoint: str = "https://fcm.googleapis.com"
    # Which push sender: `fcm` (our FCM HTTP v1 client, app.push.fcm_http),
    # `firebase-admin` (the SDK's, app.push.fcm: the reference, at over ten times the
    # CPU a push) or `log`. Unset: `fcm` with NW_FIREBASE_CREDENTIALS, else `log`.
    push_sender: Literal["fcm", "firebase-admin", "log"] | None = None
    # The Firebase project whose Auth ID tokens `POST /v1/auth/firebase` accepts;
    # defaults to the service account's project.
    firebase_project_id: str | None = None
    push_concurrency: int = Field(default=100, ge=1, le=1000)
    push_batch: int = Field(default=500, ge=1, le=500)
    push_lease_s: float = Field(default=60.0, gt=0)
    # Counted in HTTP requests: firebase-admin itself tries a 500/503 five times.
    push_max_attempts: int = Field(default=20, ge=1)

    # Outbound calls to URLs others chose (webhooks, CAP sources; app.outbound): https
    # only and never to loopback, private, link-local or metadata addresses, except the
    # `host:port` pairs listed here (comma-separated; for tests and receivers on the
    # operator's own network). `webhook_allow_http` lets plain http through for all.
    webhook_allowed_hosts: str = ""
    webhook_allow_http: bool = False
    # Webhook subscriptions (app.webhooks): at most this many per API client; created,
    # and sent on demand (test pings, redeliveries), at most so often per client, as each
    # makes this service call out. Seconds an attempt may take, connecting and reading,
    # and attempts in flight per process.
    webhooks_per_client: int = Field(default=20, ge=1, le=10_000)
    webhook_creations_per_client_per_hour: int = Field(default=20, ge=1)
    webhook_sends_per_client_per_hour: int = Field(default=60, ge=1)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=100, ge=1, le=1000)

    # CAP sources (agencies' feeds taken in as alerts, app.integrations.cap_in): polled
    # every cap_poll_seconds by the dispatcher process, a failing one less often (doubling
    # up to cap_max_backoff_s); an answer larger than cap_max_bytes is refused. Fetches
    # obey the same guard as webhooks, with their own exemptions: `cap_allowed_hosts`
    # (`host:port` pairs, for tests and feeds on the operator's network) and
    # `cap_allow_http` (plain http to public addresses: many agencies' feeds are http).
    cap_poll_seconds: int = Field(default=60, ge=5, le=86_400)
    cap_max_backoff_s: int = Field(default=3_600, ge=5, le=7 * 86_400)
    cap_max_bytes: int = Field(default=1_000_000, ge=1024, le=10_000_000)
    cap_allowed_hosts: str = ""
    cap_allow_http: bool = False
    # Sources an admin may register or delete an hour: each registration resolves a
    # name and each source costs a fetch a minute.
    cap_source_changes_per_hour: int = Field(default=60, ge=1)

    # Realtime (WS /v1/ws): seconds to authenticate, between pings, and to send a
    # resume after auth; events queued per connection before it counts as too slow; how
    # long the event log keeps events for clients that resume.
    ws_auth_timeout_s: float = Field(default=5.0, gt=0)
    ws_ping_s: float = Field(default=20.0, gt=0)
    ws_resume_window_s: float = Field(default=1.0, ge=0)
    ws_queue_size: int = Field(default=256, ge=1)
    event_retention_s: int = Field(default=7 * 24 * 3600, ge=60)

    # Retention (issue 15): what residents leave behind goes once it has served them.
    # Applied by `nwatch purge` and by the dispatcher once a day (app.retention).
    # A report's exact point, and its accuracy, are replaced by its snapped point this many
    # days after it was reported, for everyone, moderators and its reporter included.
    exact_location_days: int = Field(default=90, ge=1, le=3650)
    # Who was pushed what, and when: a finished delivery (sent or failed) is deleted this
    # many days after it was created and last tried. Alert statistics count what is kept.
    delivery_log_days: int = Field(default=30, ge=1, le=3650)
    # The contact details an Open311 client sent with a report (name, email, phone, device,
    # account, address, media URL: seen by agency officers and admins only) are deleted
    # this many days after the report, like its exact point.
    open311_contact_days: int = Field(default=90, ge=1, le=3650)
    # How long an Idempotency-Key keeps its answer for a retry: a client whose answer was
    # lost (a phone that went offline mid-request) retries when it is back, which can be
    # days. Shorter than the exact-location period (checked below): the stored answer is
    # the reporter's reading, exact point included.
    idempotency_key_ttl_s: int = Field(default=7 * 24 * 3600, ge=3600)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)
    # Memory-mapped I/O and page cache per connection (the map is the OS's page cache,
    # shared by all connections).
    sqlite_mmap_mib: int = Field(default=1024, ge=0)
    sqlite_cache_mib: int = Field(default=16, ge=1)
    db_pool_size: int = Field(default=10, ge=1)

    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        # strict=False: "10.0.0.1/8" is read as its network, as a proxy list means.
        return tuple(ip_network(v, strict=False) if isinstance(v, str) else v for v in value)

    @model_validator(mode="after")
    def _keys_go_before_exact_points(self) -> Settings:
        if self.idempotency_key_ttl_s >= self.exact_location_days * 86_400:
            raise ValueError(
                "NW_IDEMPOTENCY_KEY_TTL_S must be shorter than NW_EXACT_LOCATION_DAYS: a "
                "replayed answer would show a report's exact point after it was coarsened"
            )
        return self

    @model_validator(mode="after")
    def _sender_has_credentials(self) -> Settings:
        if self.push_sender in ("fcm", "firebase-admin") and self.firebase_credentials is None:
            raise ValueError(
                f"NW_PUSH_SENDER={self.push_sender} needs NW_FIREBASE_CREDENTIALS (a "
                "service-account file)"
            )
        return self

    @field_validator("webhook_allowed_hosts", "cap_allowed_hosts")
    @classmethod
    def _allowed_hosts_are_host_port(cls, value: str) -> str:
        from app.outbound.guard import Policy

        Policy.parse(value)  # raises ValueError naming the bad entry
        return value

    @property
    def push_sender_chosen(self) -> Literal["fcm", "firebase-admin", "log"]:
        if self.push_sender is not None:
            return self.push_sender
        return "log" if self.firebase_credentials is None else "fcm"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def shape(self) -> Literal["embedded", "scaled"]:
        return "embedded" if self.is_sqlite else "scaled"

    @property
    def runs_dispatcher(self) -> bool:
        if self.dispatcher_in_process is None:
            return self.shape == "embedded"
        return self.dispatcher_in_process

    @cached_property
    def uses_key_pair(self) -> bool:
        return self.jwt_private_key_file is not None

    def check(self) -> None:
        """Refuse configurations that are unsafe or incomplete."""
        if (self.jwt_private_key_file is None) != (self.jwt_public_key_file is None):
            raise ConfigurationError(
                "NW_JWT_PRIVATE_KEY_FILE and NW_JWT_PUBLIC_KEY_FILE go together"
            )
        if self.shape == "scaled" and self.jwt_secret is None and not self.uses_key_pair:
            raise ConfigurationError(
                "the scaled shape needs NW_JWT_SECRET or a key pair "
                "(NW_JWT_PRIVATE_KEY_FILE, NW_JWT_PUBLIC_KEY_FILE); it never generates one"
            )
        if self.shape == "scaled" and os.environ.get("FIREBASE_AUTH_EMULATOR_HOST"):
            raise ConfigurationError(
                "FIREBASE_AUTH_EMULATOR_HOST is set: firebase-admin would accept unsigned "
                "ID tokens; the scaled shape refuses to start with it"
            )
        if self.firebase_credentials is not None and not self.firebase_credentials.is_file():
            raise ConfigurationError(
                f"NW_FIREBASE_CREDENTIALS names no file: {self.firebase_credentials}"
            )
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value()) < 32:
            raise ConfigurationError("NW_JWT_SECRET must be at least 32 characters")
