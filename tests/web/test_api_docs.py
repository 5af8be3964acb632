"""The API docs work on a clinic network without internet: Swagger UI and ReDoc come from the service."""

from __future__ import annotations

from playwright.async_api import Route, expect

from tests.conftest import Service
from tests.web.conftest import OpenPage, url


async def test_docs_and_redoc_render_every_operation_with_the_outside_world_blocked(
    service: Service, open_page: OpenPage
) -> None:
    outside: list[str] = []

    async def guard(route: Route) -> None:
        if route.request.url.startswith(url(service, "")):
            await route.continue_()
        else:
            if route.request.resource_type != "image":  # ReDoc's "powered by" logo is the one image it links
                outside.append(route.request.url)
            await route.abort()

    page = await open_page("about:blank")
    await page.context.route("**/*", guard)
    await page.goto(url(service, "/docs"))
    await expect(page.locator(".opblock").first).to_be_visible()
    operations = len((await service.client.get("/openapi.json")).json()["paths"])
    assert await page.locator(".opblock").count() >= operations
    await expect(page.get_by_text("Lights up bright, audio paused, session frozen: at once").first).to_be_visible()
    await page.goto(url(service, "/redoc"))
    await expect(page.locator("h2", has_text="Start a session").first).to_be_visible()
    assert outside == []  # no script, style, font or data asked of a CDN
