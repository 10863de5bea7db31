"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.routing import make_router

router = make_router(tags=["operations"])
log = logging.getLogger(__name__)


class Health(BaseModel):
    status: str
    database: str | None = None
    schema_revision: str | None = None


@router.get("/healthz", response_model=Health, response_model_exclude_none=True)
async def read_health() -> Health:
    """The process is up and answering."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: {"model": Health}},
)
async def read_readiness(request: Request, response: Response) -> Health:
    """Ready to serve: the database answers and its schema is at the code's revision."""
    head: str = request.app.state.schema_head
    try:
        async with request.app.state.engine.connect() as conn:
            revision = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
    except SQLAlchemyError as exc:
        log.warning("readiness check failed: %s", exc.__class__.__name__)
        response.status_code = 503
        return Health(status="unavailable", database="unreachable or not migrated")
    if revision != head:
        response.status_code = 503
        return Health(status="unavailable", database="ok", schema_revision=revision)
    return Health(status="ok", database="ok", schema_revision=revision)


_METRICS_EXAMPLE = """\
# HELP nw_http_requests_total HTTP requests answered
# TYPE nw_http_requests_total counter
nw_http_requests_total{method="GET",route="/v1/alerts",status="200"} 1027.0
"""


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}, "example": _METRICS_EXAMPLE}}
        }
    },
)
async def read_metrics(request: Request) -> Response:
    """Prometheus exposition of this process's metrics."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
