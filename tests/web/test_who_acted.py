"""The record says which person acted, not only which tablet: the tablet's "acting as" facilitator,
one tap, from those signed in; each command then records "A. Rivera via <the tablet's token>"."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.conftest import Service
from tests.web.conftest import OpenPage, room_state, start_session, url


async def events(service: Service, session_id: str) -> list[dict[str, Any]]:
    return list((await service.client.get(f"/api/sessions/{session_id}/events")).json())


async def test_each_command_records_the_facilitator_acting_on_the_tablet(service: Service, open_page: OpenPage) -> None:
    session_id = (await start_session(service))["session_id"]  # A. Rivera and B. Chen signed in
    page = await open_page(url(service, "/?room=one"))
    acting = page.locator("#acting-as")
    await expect(acting).to_have_text("Acting as: tap to choose")
    await acting.click()
    await expect(acting).to_have_text("Acting as A. Rivera")
    await page.get_by_role("button", name="Hold", exact=True).click()
    await expect(page.locator("#status-chip")).to_have_text("On hold")
    await acting.click()
    await expect(acting).to_have_text("Acting as B. Chen")
    await page.get_by_role("button", name="Resume", exact=True).click()
    await expect(page.locator("#status-chip")).to_have_text("Before dose")
    await acting.click()  # after the last: nobody, the tablet alone
    await expect(acting).to_have_text("Acting as: tap to choose")
    await page.get_by_role("button", name="Hold", exact=True).click()
    await expect(page.locator("#status-chip")).to_have_text("On hold")

    by = [e["data"]["by"] for e in await events(service, session_id) if e["type"] in ("hold", "resume")]
    assert by == ["A. Rivera via http:open", "B. Chen via http:open", "http:open"]
    report = (await service.client.get(f"/api/sessions/{session_id}/report?format=json")).text
    assert "A. Rivera via http:open" in report and "B. Chen via http:open" in report

    # Chosen on this tablet, it stays across a reload; once that person signs out it is dropped.
    await acting.click()
    await expect(acting).to_have_text("Acting as A. Rivera")
    await page.reload()
    await expect(acting).to_have_text("Acting as A. Rivera")
    r = await service.client.delete("/api/rooms/one/session/facilitators/A. Rivera")
    assert r.status_code == 200, r.text
    await expect(acting).to_have_text("Acting as: tap to choose")
    assert (await room_state(service))["session"]["facilitators"][0]["name"] == "B. Chen"
