"""GET /metrics: Prometheus's text format, for the observer role (or anyone, in open mode)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api import metrics
from app.api.auth import Read
from app.api.deps import runtime

router = APIRouter(tags=["service"])


@router.get(
    "/metrics",
    dependencies=[Read],
    summary="Prometheus metrics: panic latency, light deliveries, broker, sessions, task failures, cue lateness",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def prometheus(request: Request) -> Response:
    """Prometheus text format: panic handling and audio-confirm latency, light commands, the broker link,
    sessions, cue lateness and background-task failures. Needs the read role when tokens are set.
    """
    await runtime(request)  # a standby has no rooms to measure: 503 naming the leader
    return Response(metrics.render(request.app.state.metrics), media_type=metrics.CONTENT_TYPE_LATEST)
