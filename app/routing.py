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
