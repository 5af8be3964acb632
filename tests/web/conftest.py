"""The dashboard in a real headless Chromium (Debian's), driven by Playwright, against the real service.

Never downloads a browser: Chromium is /usr/bin/chromium (or $ARCROOM_CHROMIUM). Every wait is
bounded: Playwright's default timeout is set per context, and expect() calls say their own.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service, serve
from tests.support import rooms_with_lights

CHROMIUM = os.environ.get("ARCROOM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 10_000  # the longest any single UI wait may take
TABLET = {"width": 1280, "height": 800}
AXE = Path(__file__).parent / "vendor" / "axe.min.js"

expect.set_options(timeout=WAIT_MS)


@pytest.fixture
def light_prefix() -> str:
    return f"web{uuid.uuid4().hex[:8]}"


@pytest.fixture
def lit_settings(settings: Settings, tmp_path: Path, light_prefix: str) -> Settings:
    path = tmp_path / "rooms-lit.yaml"
    path.write_text(rooms_with_lights(light_prefix))
    return settings.model_copy(update={"rooms_file": path})


def serve_on(settings: Settings, clock: ManualClock, port: int) -> AbstractAsyncContextManager[Service]:
    """tests.conftest.serve on a port chosen by the test, so a restart can reuse it."""
    return serve(settings, clock, port=port)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield b
        finally:
            await b.close()


OpenPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """open_page(url, viewport=..., theme="night"|"day"|None, init_script=None) -> Page.

    Fails the test on any uncaught script error in the page."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def _open(
        url: str,
        *,
        viewport: dict[str, int] = TABLET,
        theme: str | None = None,
        init_script: str | None = None,
        service_workers: str = "block",
        context: BrowserContext | None = None,
    ) -> Page:
        if context is None:
            context = await browser.new_context(viewport=viewport, service_workers=service_workers)  # type: ignore[arg-type]
            context.set_default_timeout(WAIT_MS)
            contexts.append(context)
            if theme:
                await context.add_init_script(f"localStorage.setItem('arcroom.theme', {theme!r});")
            if init_script:
                await context.add_init_script(init_script)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(url)
        return page

    yield _open
    for context in contexts:
        await context.close()
    assert not errors, f"script errors in the page: {errors}"


def url(service: Service, path: str = "/") -> str:
    return str(service.client.base_url).rstrip("/") + path


async def start_session(
    service: Service, room: str = "one", preset: str = "psilocybin", *, staffed: bool = True, **body: Any
) -> dict[str, Any]:
    """A session; `staffed` (the default) also signs in the facilitators the preset requires and
    acknowledges the check at its start, so a test of the room view sees no alert or baseline."""
    r = await service.client.post(f"/api/rooms/{room}/session", json={"preset": preset, **body})
    assert r.status_code == 201, r.text
    state = dict(r.json())
    if staffed:
        for name in ("A. Rivera", "B. Chen", "C. Osei")[: state["facilitators_required"]]:
            state = await session_command(service, "/facilitators", {"name": name}, room=room)
        for cue in state["due_cues"]:
            state = await session_command(
                service, f"/cues/{cue['id']}/ack", {"not_taken_reason": "taken before the session"}, room=room
            )
    return state


async def session_command(
    service: Service, path: str, body: dict[str, Any] | None = None, room: str = "one"
) -> dict[str, Any]:
    r = await service.client.post(f"/api/rooms/{room}/session{path}", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def room_state(service: Service, room: str = "one") -> dict[str, Any]:
    r = await service.client.get(f"/api/rooms/{room}/state")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def eventually(check: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    """Wait (bounded) until check() holds."""
    try:
        async with asyncio.timeout(timeout_s):
            while not check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout_s} s: {what}") from None


async def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A/AA rules on the page as it is now; returns the violations."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(content=AXE.read_text())
    result = await page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
                                           resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
    }""")
    return list(result)


def no_violations(violations: list[dict[str, Any]], where: str) -> None:
    assert violations == [], f"{where}: " + "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"][:5]) for v in violations
    )
