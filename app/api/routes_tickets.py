"""Stream tickets: a signed-in dashboard trades its token for one before opening an event stream."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.api.auth import Principal, Read, stream_tickets

router = APIRouter(prefix="/api", tags=["service"])


class StreamTicket(BaseModel):
    ticket: str = Field(description="Give it as ?ticket= to GET /api/rooms/{room}/stream")
    expires_in_s: float = Field(description="It opens streams until then (reconnects included); ask again after")


@router.post(
    "/stream-tickets",
    summary="A short-lived ticket for event stream URLs, so that no token is ever put in a URL",
)
async def stream_ticket(request: Request, principal: Principal = Read) -> StreamTicket:
    """A short-lived ticket (60 s) to open an event stream with `?ticket=`, so the long-lived token never appears
    in a URL or an access log.
    """
    tickets = stream_tickets(request)
    return StreamTicket(ticket=tickets.issue(principal), expires_in_s=tickets.ttl_s)
