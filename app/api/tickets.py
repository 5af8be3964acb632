"""Stream tickets: what a browser puts in an event stream's URL instead of its token.

EventSource cannot send an Authorization header, so the credential has to travel in the URL, and
URLs end up in logs (a proxy's, a browser's developer tools). A ticket is a random string that
opens event streams for TICKET_TTL_S as the token that asked for it; within that minute it may be
used again (EventSource reconnects by itself with the same URL); after it, a log that kept it
holds nothing of use. Tickets live in memory: a restart forgets them, and the dashboard asks again.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

TICKET_TTL_S = 60.0
MAX_TICKETS = 1000  # every tablet asks about once a minute at most; the oldest go first past this

P = TypeVar("P")


class StreamTickets(Generic[P]):
    def __init__(self, ttl_s: float = TICKET_TTL_S, now: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._now = now
        self._tickets: OrderedDict[str, tuple[P, float]] = OrderedDict()

    def issue(self, holder: P) -> str:
        self._forget_expired()
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = (holder, self._now() + self.ttl_s)
        while len(self._tickets) > MAX_TICKETS:
            self._tickets.popitem(last=False)
        return ticket

    def holder(self, ticket: str) -> P | None:
        """Who the ticket was issued to, if it is one and has not expired."""
        entry = self._tickets.get(ticket)
        if entry is None:
            return None
        holder, expires_at = entry
        if self._now() >= expires_at:
            del self._tickets[ticket]
            return None
        return holder

    def __len__(self) -> int:
        return len(self._tickets)

    def _forget_expired(self) -> None:
        now = self._now()
        while self._tickets:
            oldest = next(iter(self._tickets))
            if self._tickets[oldest][1] > now:
                break
            del self._tickets[oldest]
