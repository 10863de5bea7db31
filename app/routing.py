"""The route class and router factory every domain uses.

`JsonRoute` answers 415 when a route that reads a JSON body is sent something else,
instead of letting it fall through to a confusing validation error.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi import APIRouter, Request, Response, params
from fastapi.routing import APIRoute

from app.problems import Problem, ProblemDetail

PROBLEM_RESPONSE: dict[str, Any] = {
    "model": ProblemDetail,
    "content": {"application/problem+json": {}},
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {**PROBLEM_RESPONSE} for status in statuses}


def _is_json(content_type: str) -> bool:
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _accepted(header: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their weights; a range whose weight is
    not a number is left out, as if the client had not sent it."""
    ranges: list[tuple[str, float]] = []
    for part in header.split(","):
        media_range, *params = (piece.strip() for piece in part.split(";"))
        if "/" not in media_range:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = -1.0
        if 0.0 <= weight <= 1.0:
            ranges.append((media_range.lower(), weight))
    return ranges


def negotiate(request: Request, default: str, *alternatives: str) -> str:
    """The media type to answer in, chosen by the request's Accept (RFC 9110 §12.5.1).

    The alternative formats are documented as other media types of the same answer, not
    as a parameter. Each offered type gets the weight of the most specific range that
    matches it; the highest weight wins. A tie between types the client named exactly
    goes to the alternative (a client that lists it asked for it; `application/json` is
    usually there as a fallback), any other tie to the default, and so does an Accept
    that matches nothing: answering in the default format is what the client got
    before, and RFC 9110 allows it instead of a 406.
    """
    header = request.headers.get("accept")
    if not header:
        return default
    ranges = _accepted(header)
    best, best_key = default, (0.0, 0, 0)
    for offered in (default, *alternatives):
        family = offered.split("/")[0] + "/*"
        matches = [
            (weight, specificity)
            for media_range, weight in ranges
            for candidate, specificity in ((offered, 2), (family, 1), ("*/*", 0))
            if media_range == candidate
        ]
        if not matches:
            continue
        weight, specificity = max(matches, key=lambda match: match[1])
        preferred = (offered != default) == (specificity == 2)
        key = (weight, specificity, int(preferred))
        if weight > 0 and key > best_key:
            best, best_key = offered, key
    return best


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        body = self.body_field
        if body is None or isinstance(body.field_info, params.Form | params.File):
            return handler

        async def checked_handler(request: Request) -> Response:
            if _has_body(request) and not _is_json(request.headers.get("content-type", "")):
                raise Problem(
                    415,
                    "This endpoint takes a JSON body (Content-Type: application/json).",
                    kind="unsupported-media-type",
                )
            return await handler(request)

        return checked_handler


def make_router(**kwargs: Any) -> APIRouter:
    return APIRouter(route_class=JsonRoute, **kwargs)
