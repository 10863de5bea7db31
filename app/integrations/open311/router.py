"""Open311 GeoReport v2 over HTTP: each operation twice, `.json` and `.xml`, the format
chosen by the path's extension as the specification has it; and the contact details of
a report for officers, with their erasure for admins, under /v1.

Errors here are the specification's (an array of `{code, description}`, `<errors>` in
XML) with its statuses — 400, 403, 404, and 429 for our limits — never problem documents,
whatever raised them (our services, the request's validation, the body's parsing).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import Depends, Form, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.deps import AdminUser, CurrentUser
from app.db import SessionDep, reading, utcnow
from app.integrations.open311 import catalogue, service, xml
from app.integrations.open311.forms import SubmitForm, blank_is_absent, parse_query
from app.integrations.open311.schemas import (
    ContactErasure,
    ContactRead,
    ContactsErased,
    Discovery,
    Open311Error,
    RequestCreated,
    Service,
    ServiceDefinition,
    ServiceRequest,
)
from app.middleware import client_address
from app.problems import Problem
from app.ratelimit import Rate, RateLimiter
from app.routing import make_router, problem_responses
from app.settings import Settings

Format = Literal["json", "xml"]
PREFIX = "/open311/v2"
JSON_MEDIA_TYPE = "application/json"
ERRORS = {
    400: "Invalid or missing parameters",
    403: "Missing or invalid api_key, or its client lacks incidents:write",
    404: "No such service, request or jurisdiction",
    429: "Too many requests (Retry-After says when to try again)",
}
# Our statuses for what the specification has no status of its own for.
_AS_OPEN311 = {401: 403, 413: 400, 415: 400, 422: 400}


def _format_of(path: str) -> Format:
    return "xml" if path.endswith(".xml") else "json"


def answer(fmt: Format, root: str, value: Any, status: int = 200, headers: Any = None) -> Response:
    if fmt == "json":
        return JSONResponse(value, status_code=status, headers=headers)
    return Response(xml.document(root, value), status, headers, media_type=xml.XML_MEDIA_TYPE)


def error(fmt: Format, status: int, description: str, headers: Any = None) -> Response:
    status = _AS_OPEN311.get(status, status)
    return answer(fmt, "errors", [{"code": status, "description": description}], status, headers)


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
    return f"{where}: {first.get('msg', 'invalid')}"


class Open311Route(APIRoute):
    """Every error of the operation answered as the specification has errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        fmt = _format_of(self.path)

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as problem:
                return error(fmt, problem.status, str(problem), problem.headers)
            except RequestValidationError as exc:
                return error(fmt, 400, _validation_message(exc))
            except StarletteHTTPException as exc:
                return error(fmt, exc.status_code, str(exc.detail), exc.headers)

        return handle


router = make_router(prefix=PREFIX, tags=["open311"])
router.route_class = Open311Route
contacts_router = make_router(prefix="/v1", tags=["incidents"])

JurisdictionParam = Annotated[
    str | None,
    Query(
        description="Our jurisdiction id (NW_OPEN311_JURISDICTION); optional unless "
        "NW_OPEN311_JURISDICTION_REQUIRED",
        examples=["neighbourwatch"],
    ),
]


def _documented(fmt: Format, model: Any, root: str, item: str | None) -> dict[int | str, Any]:
    """The answer and the errors of an operation in `fmt`, each with its shape."""
    responses: dict[int | str, Any] = {}
    if fmt == "json":
        responses[200] = {"model": model}
        for status, description in ERRORS.items():
            example: Any = [{"code": status, "description": description}]
            responses[status] = {
                "model": list[Open311Error],
                "description": description,
                "content": {JSON_MEDIA_TYPE: {"example": example}},
            }
        return responses
    # The XML answer as the string it is, in the layout the specification gives. An
    # object schema with `xml` hints reads better, but generated clients (openapi-python-
    # client) then hand the text to the JSON model's `from_dict`, and fail.
    shape = {
        "type": "string",
        "contentMediaType": "text/xml",
        "description": (
            f"A `<{root}>` document, an `<{item}>` in it for each `{_name(model)}`"
            if item
            else f"A `<{root}>` document with the fields of `{_name(model)}`"
        )
        + " (the `.json` operation's answer), laid out as GeoReport v2 specifies.",
    }
    errors = {
        "type": "string",
        "contentMediaType": "text/xml",
        "description": "An `<errors>` document: an `<error>` with `code` and `description` "
        "for each problem.",
    }
    example = xml.EXAMPLES[_example(root, model)]
    responses[200] = {"content": {"text/xml": {"schema": shape, "example": example}}}
    for status, description in ERRORS.items():
        body = xml.document("errors", [{"code": status, "description": description}])
        content = {"text/xml": {"schema": errors, "example": body.decode()}}
        responses[status] = {"description": description, "content": content}
    return responses


def _name(model: Any) -> str:
    args = getattr(model, "__args__", None)
    name: str = (args[0] if args else model).__name__
    return name


def _example(root: str, model: Any) -> str:
    return "created" if _name(model) == "RequestCreated" else root


def _options(fmt: Format, model: Any, root: str, item: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {
        "responses": _documented(fmt, model, root, item),
        "openapi_extra": {"x-own-errors": True},
    }
    if fmt == "json":
        options["response_model"] = model
    else:
        options["response_class"] = Response
    return options


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _count_read(request: Request) -> None:
    """Reads are public: each address gets so many a minute."""
    settings = _settings(request)
    limiter: RateLimiter = request.app.state.limiter
    rate = Rate(settings.open311_reads_per_address_per_minute, 60)
    await limiter.take(
        rate, f"open311:read:{client_address(request)}", f"At most {rate.amount} reads a minute."
    )


_read_limit = Depends(_count_read)


def _register(fmt: Format) -> None:
    ext = f".{fmt}"

    @router.get(
        f"/discovery{ext}",
        name=f"read_discovery_{fmt}",
        **_options(fmt, Discovery, "discovery", None),
    )
    async def read_discovery(
        request: Request, jurisdiction_id: JurisdictionParam = None
    ) -> Response:
        """Service Discovery: where this GeoReport v2 endpoint is and which formats it
        speaks."""
        settings = _settings(request)
        service.check_jurisdiction(settings, blank_is_absent(jurisdiction_id))
        found = service.discovery(settings)
        return answer(fmt, "discovery", found.model_dump(mode="json"))

    @router.get(
        f"/services{ext}",
        name=f"list_services_{fmt}",
        **_options(fmt, list[Service], "services", "service"),
    )
    async def list_services(
        request: Request, jurisdiction_id: JurisdictionParam = None
    ) -> Response:
        """Every service: one per incident category (`GET /v1/incident-categories`)."""
        service.check_jurisdiction(_settings(request), blank_is_absent(jurisdiction_id))
        return answer(fmt, "services", [s.model_dump(mode="json") for s in catalogue.services()])

    @router.get(
        f"/services/{{service_code}}{ext}",
        name=f"read_service_definition_{fmt}",
        **_options(fmt, ServiceDefinition, "service_definition", None),
    )
    async def read_service_definition(
        service_code: str, request: Request, jurisdiction_id: JurisdictionParam = None
    ) -> Response:
        """A service's attributes: when it happened (`attribute[occurred_at]`)."""
        service.check_jurisdiction(_settings(request), blank_is_absent(jurisdiction_id))
        found = catalogue.definition(service_code)
        return answer(fmt, "service_definition", found.model_dump(mode="json"))

    @router.post(
        f"/requests{ext}",
        name=f"submit_request_{fmt}",
        **_options(fmt, list[RequestCreated], "service_requests", "request"),
    )
    async def submit_request(
        request: Request,
        form: Annotated[SubmitForm, Form()],
        idempotency_key: Annotated[
            str | None,
            Header(max_length=128, description="Makes retries safe: same key, same answer"),
        ] = None,
    ) -> Response:
        """File a report (`application/x-www-form-urlencoded`), with an API client's secret
        holding incidents:write as `api_key`. The location is `lat` and `long` (we cannot
        geocode an address). Contact fields are kept for agency officers and admins only,
        never answered here. Anonymous; rate limited per client and per address."""
        submitted = form.model_copy(
            update={k: blank_is_absent(v) for k, v in form.model_dump().items()}
        )
        settings = _settings(request)
        address = client_address(request)
        gate = service.Gate(request.app.state.limiter, settings)
        # A read: the report is written by the intake, in a transaction of its own (on
        # SQLite, one holding the write lock here would wait for it for ever).
        async with reading(request.app.state.sessionmaker) as session:
            client = await gate.client_of(session, submitted.api_key, address)
        service.check_jurisdiction(settings, submitted.jurisdiction_id)
        attributes = await _attributes(request)
        created = await service.submit(
            request.app.state.incident_intake,
            client,
            submitted,
            attributes,
            blank_is_absent(idempotency_key),
            address,
        )
        return answer(fmt, "service_requests", [created.model_dump(mode="json")])

    @router.get(
        f"/requests{ext}",
        name=f"list_requests_{fmt}",
        dependencies=[_read_limit],
        **_options(fmt, list[ServiceRequest], "service_requests", "request"),
    )
    async def list_requests(
        request: Request,
        jurisdiction_id: JurisdictionParam = None,
        service_request_id: Annotated[
            str | None,
            Query(description="Comma-separated ids; overrides every other parameter"),
        ] = None,
        service_code: Annotated[str | None, Query(description="Comma-separated")] = None,
        start_date: Annotated[
            str | None,
            Query(description="W3C date-time with an offset", examples=["2026-11-01T00:00:00Z"]),
        ] = None,
        end_date: Annotated[
            str | None,
            Query(description="W3C date-time with an offset; at most 90 days after start_date"),
        ] = None,
        status: Annotated[str | None, Query(description="Comma-separated: open, closed")] = None,
    ) -> Response:
        """Reports anyone may see (in a public group anyone may join), newest first, at
        most 1,000, by default of the last 90 days: at the snapped point, with no reporter
        and no contact detail."""
        service.check_jurisdiction(_settings(request), blank_is_absent(jurisdiction_id))
        query = parse_query(
            utcnow(),
            blank_is_absent(service_request_id),
            blank_is_absent(service_code),
            blank_is_absent(start_date),
            blank_is_absent(end_date),
            blank_is_absent(status),
        )
        async with reading(request.app.state.sessionmaker) as session:
            found = await service.list_requests(session, query)
        return answer(fmt, "service_requests", [r.model_dump(mode="json") for r in found])

    @router.get(
        f"/requests/{{service_request_id}}{ext}",
        name=f"read_request_{fmt}",
        dependencies=[_read_limit],
        **_options(fmt, list[ServiceRequest], "service_requests", "request"),
    )
    async def read_request(
        service_request_id: str, request: Request, jurisdiction_id: JurisdictionParam = None
    ) -> Response:
        """One report anyone may see, as an array of one."""
        service.check_jurisdiction(_settings(request), blank_is_absent(jurisdiction_id))
        async with reading(request.app.state.sessionmaker) as session:
            found = await service.read_request(session, service_request_id)
        return answer(fmt, "service_requests", [found.model_dump(mode="json")])


async def _attributes(request: Request) -> dict[str, str]:
    """The form's `attribute[CODE]` fields (blank ones absent)."""
    form = await request.form()  # parsed already, for the declared fields
    found: dict[str, str] = {}
    for name, value in form.multi_items():
        attribute = name.startswith("attribute[") and name.endswith("]")
        if attribute and isinstance(value, str) and value.strip():
            found[name[len("attribute[") : -1]] = value.strip()
    return found


_register("json")
_register("xml")


@contacts_router.get(
    "/incidents/{incident_id}/contact",
    response_model=ContactRead,
    responses=problem_responses(401, 403, 404),
)
async def read_incident_contact(
    incident_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> ContactRead:
    """The contact details an Open311 client sent with a report it filed: for agency
    officers whose jurisdiction holds the report, and admins (who see an anonymous
    report's reporter) only. Deleted after NW_OPEN311_CONTACT_DAYS."""
    return await service.read_contact(session, user, incident_id)


@contacts_router.post(
    "/admin/open311-contact-erasures",
    response_model=ContactsErased,
    tags=["admin"],
    responses=problem_responses(401, 403),
)
async def erase_open311_contacts(
    data: ContactErasure, admin: AdminUser, session: SessionDep
) -> ContactsErased:
    """A person's erasure request for what Open311 clients sent about them (they have no
    account to erase): every contact detail with this email, phone, device or account id
    is deleted. The reports stay, anonymous as they were."""
    return ContactsErased(erased=await service.erase_contacts(session, admin, data))
