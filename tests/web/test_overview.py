"""The clinic overview: every room with its phase, panic state and due checks, kept current."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.conftest import Service
from tests.web.conftest import OpenPage, start_session, url


async def test_overview_lists_every_room_with_phase_panic_and_alerts(service: Service, open_page: OpenPage) -> None:
    await start_session(
        service, room="one", preset="esketamine", client_label="K-4", staffed=False
    )  # a BP check is due
    page = await open_page(url(service, "/overview"))
    one = page.locator(".room-card", has_text="Room one")
    two = page.locator(".room-card", has_text="Room two")
    await expect(page.locator(".room-card")).to_have_count(2)
    await expect(one.locator(".room-phase")).to_contain_text("Arrival")
    await expect(one).to_contain_text("K-4")
    await expect(one.locator(".room-alerts")).to_contain_text("Due: ")
    await expect(two.locator(".room-phase")).to_have_text("No session")
    await expect(page.locator("#summary")).to_contain_text("2 rooms · 1 in session · 1 check due")

    # Changes elsewhere show up without a reload: a session starts in room two, a panic in room one.
    await start_session(service, room="two", preset="psilocybin")
    await expect(two.locator(".room-phase")).to_contain_text("Arrival")
    r = await service.client.post("/api/rooms/one/panic")
    assert r.status_code == 200, r.text
    await expect(one.locator(".room-phase")).to_contain_text("PANIC")
    await expect(one).to_have_class(re.compile(r"\bis-panic\b"))
    await expect(page.locator("#summary")).to_contain_text("1 in PANIC")

    # One tap from the overview into a room.
    await two.get_by_role("link", name="Open Room two").click()
    await expect(page.locator("#room-name")).to_have_text("Room two")
    await expect(page.locator("#phase-name")).to_have_text("arrival")


async def test_panic_from_the_overview_reaches_the_room(service: Service, open_page: OpenPage) -> None:
    page = await open_page(url(service, "/overview"))
    await page.get_by_role("button", name="Panic in Room two").click()
    two = page.locator(".room-card", has_text="Room two")
    await expect(two.locator(".room-panic-result")).to_contain_text("Panic sent")
    await expect(two).to_contain_text("PANIC")
    assert (await service.client.get("/api/rooms/two/state")).json()["panic"]["active"] is True


async def test_overview_shows_open_alerts_overdue_checks_and_panic_or_held_in_words(
    service: Service, open_page: OpenPage
) -> None:
    await start_session(service, room="one", preset="psilocybin", client_label="P-9")
    await service.client.post("/api/rooms/one/session/dose", json={})
    r = await service.client.post(
        "/api/rooms/one/session/readings", json={"readings": {"heart_rate_bpm": 142}, "kind": "vitals"}
    )
    assert r.status_code == 200, r.text
    await service.clock.advance(72 * 60)  # the 60-minute vitals check, 12 minutes late
    page = await open_page(url(service, "/overview"))
    one = page.locator(".room-card", has_text="Room one")
    await expect(one.locator(".room-alerts")).to_contain_text("Heart rate high")
    await expect(one.locator(".room-alerts .overdue")).to_contain_text("Overdue 12 min: Vitals check")
    await expect(page.locator("#summary")).to_contain_text("1 open alert")
    await expect(one.locator(".room-state")).to_be_hidden()

    assert (await service.client.post("/api/rooms/one/panic")).status_code == 200
    await expect(one.locator(".room-state")).to_contain_text("⚠ PANIC since")
    band = await one.locator(".room-state").evaluate("(n) => getComputedStyle(n).backgroundImage")
    assert "repeating-linear-gradient" in band, band  # a shape of its own, not only a colour
    r = await service.client.post("/api/rooms/one/panic/clear", json={"mode": "hold"})
    assert r.status_code == 200, r.text
    await expect(one.locator(".room-state")).to_contain_text("Held after panic")
    await expect(one).to_have_class(re.compile(r"\bis-held\b"))
    # PANIC stays one tap from the overview, held or not.
    await one.get_by_role("button", name="Panic in Room one").click()
    await expect(one.locator(".room-state")).to_contain_text("⚠ PANIC since")
