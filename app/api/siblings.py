"""A panic from a page another instance served: when the instance a tablet is on stops answering,
its PANIC goes to another one (app/web/static/js/instances.js), across origins. The browser asks
first (CORS); only the instances' own addresses, as recorded in the database (app/leadership.py),
are let through, and only for a room's panic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.guard import normalise_origin

# What the dashboard's panic request carries (app/web/static/js/api.js).
PANIC_HEADERS = ("authorization", "content-type", "x-arcroom-acting-as")


def is_panic(path: str) -> bool:
    parts = path.strip("/").split("/")
    return len(parts) == 4 and parts[:2] == ["api", "rooms"] and parts[3] == "panic"


class PanicFromSiblings(CORSMiddleware):
    def __init__(self, app: ASGIApp, siblings: Callable[[], Iterable[str]]) -> None:
        # A clinic's instances are on its own network: a browser asks before a page on one private
        # address reaches another (Private Network Access), and the answer is yes for siblings.
        super().__init__(app, allow_methods=("POST",), allow_headers=PANIC_HEADERS, allow_private_network=True)
        self._siblings = siblings

    def is_allowed_origin(self, origin: str) -> bool:
        return normalise_origin(origin) in {normalise_origin(address) for address in self._siblings()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_panic(scope["path"]):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
