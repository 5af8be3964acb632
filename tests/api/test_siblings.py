"""A page another instance served may send a room's panic here, and nothing else; a page from
anywhere else may not. (The whole path, in Chromium with two instances: tests/web/test_standby_tablet.py.)"""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.api.guard import HostPatterns, RequestGuard
from app.api.siblings import PanicFromSiblings

SIBLING = "http://arcroom-a.clinic.lan:8000"
STRANGER = "http://elsewhere.example"
ASK_PANIC = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}


def instance_b() -> Starlette:
    async def done(request: Request) -> JSONResponse:
        return JSONResponse({"done": request.url.path})

    app = Starlette(routes=[Route("/api/rooms/{room}/{path:path}", done, methods=["POST"])])
    siblings = [SIBLING + "/"]  # as recorded: a trailing slash or a default port changes nothing
    app.add_middleware(RequestGuard, hosts=HostPatterns(("*",), loopback=True), siblings=lambda: siblings)
    app.add_middleware(PanicFromSiblings, siblings=lambda: siblings)
    return app


async def test_a_sibling_page_may_send_a_panic_and_a_stranger_page_may_not() -> None:
    transport = httpx.ASGITransport(app=instance_b())
    async with httpx.AsyncClient(transport=transport, base_url="http://arcroom-b.clinic.lan:8000") as c:
        asked = await c.options("/api/rooms/one/panic", headers={"Origin": SIBLING, **ASK_PANIC})
        assert asked.status_code == 200 and asked.headers["access-control-allow-origin"] == SIBLING
        sent = await c.post("/api/rooms/one/panic", headers={"Origin": SIBLING, "Authorization": "Bearer t"})
        assert sent.status_code == 200 and sent.headers["access-control-allow-origin"] == SIBLING

        asked = await c.options("/api/rooms/one/panic", headers={"Origin": STRANGER, **ASK_PANIC})
        assert asked.status_code == 400 and "access-control-allow-origin" not in asked.headers
        sent = await c.post("/api/rooms/one/panic", headers={"Origin": STRANGER})
        assert sent.status_code == 403 and "access-control-allow-origin" not in sent.headers


async def test_a_sibling_page_may_ask_for_nothing_but_the_panic() -> None:
    transport = httpx.ASGITransport(app=instance_b())
    async with httpx.AsyncClient(transport=transport, base_url="http://arcroom-b.clinic.lan:8000") as c:
        asked = await c.options("/api/rooms/one/session/end", headers={"Origin": SIBLING, **ASK_PANIC})
        assert "access-control-allow-origin" not in asked.headers  # the browser sends nothing, then
        sent = await c.post("/api/rooms/one/session/end", headers={"Origin": SIBLING})
        assert "access-control-allow-origin" not in sent.headers  # nor lets the page read the answer
