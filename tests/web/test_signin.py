"""Signing in with a token (remembered on the tablet), the device PIN, and roles."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import expect
from pydantic import SecretStr

from app.domain.clock import ManualClock
from app.settings import Settings, Token
from tests.conftest import Service, serve
from tests.web.conftest import OpenPage, no_violations, run_axe, start_session, url

THERAPIST = "therapist-token-0123456789"
OBSERVER = "observer-token-0123456789"


@pytest.fixture
async def secured(settings: Settings, clock: ManualClock) -> AsyncIterator[Service]:
    tokens = [
        Token(name="tablet-room-1", role="therapist", token=SecretStr(THERAPIST)),
        Token(name="nurse-station", role="observer", token=SecretStr(OBSERVER)),
    ]
    async with serve(settings.model_copy(update={"tokens": tokens}), clock) as svc:
        svc.client.headers["Authorization"] = f"Bearer {THERAPIST}"
        yield svc


async def test_sign_in_with_a_token_is_remembered_and_the_stream_carries_it(
    secured: Service, open_page: OpenPage
) -> None:
    await start_session(secured)
    page = await open_page(url(secured, "/?room=one"))
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/stream" in r.url else None)

    await expect(page.get_by_role("heading", name="Sign in to Arcroom")).to_be_visible()
    await expect(page.locator("#panic")).to_be_hidden()  # nothing to send it with yet
    no_violations(await run_axe(page), "sign-in")
    await page.get_by_label("Access token").fill("not-the-right-token-xyz")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#signin-error")).to_have_text("That token was refused by the service.")

    await page.get_by_label("Access token").fill(THERAPIST)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#phase-name")).to_have_text("arrival")
    await expect(page.locator("#conn-chip")).to_have_text("Live")
    await expect(page.locator("#panic")).to_be_visible()
    # The stream's URL carries a short-lived ticket, never the token (URLs end up in logs).
    assert any("ticket=" in u for u in streams), streams
    assert not any(THERAPIST in u for u in streams), streams

    # A new visit on the same tablet goes straight in.
    await page.reload()
    await expect(page.locator("#phase-name")).to_have_text("arrival")
    await expect(page.locator("#signin")).to_be_hidden()

    # Signing out is asked first (the tablet then has no PANIC); Cancel keeps it signed in, PANIC and all.
    await page.get_by_role("button", name="Sign out…").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("no PANIC button until someone signs in again")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#panic")).to_be_visible()
    await page.get_by_role("button", name="Sign out…").click()
    await dialog.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to Arcroom")).to_be_visible()


async def test_a_device_pin_unlocks_the_tablet_and_panic_stays_on_the_lock_screen(
    secured: Service, open_page: OpenPage
) -> None:
    await start_session(secured)
    page = await open_page(url(secured, "/?room=one"))
    await page.get_by_label("Access token").fill(THERAPIST)
    await page.get_by_label("Device PIN (optional)").fill("12")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#signin-error")).to_have_text("The PIN must be 4 to 8 digits.")
    await page.get_by_label("Device PIN (optional)").fill("4711")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#phase-name")).to_have_text("arrival")

    await page.get_by_role("button", name="Lock").click()
    await expect(page.get_by_role("heading", name="Tablet locked")).to_be_visible()
    no_violations(await run_axe(page), "lock screen")
    await expect(page.locator("#main")).to_be_hidden()
    await expect(page.locator("#panic")).to_be_visible()
    await page.get_by_label("Device PIN").fill("0000")
    await page.get_by_role("button", name="Unlock").click()
    await expect(page.locator("#signin-error")).to_have_text("Wrong PIN.")
    await page.get_by_label("Device PIN").fill("4711")
    await page.get_by_role("button", name="Unlock").click()
    await expect(page.locator("#phase-name")).to_have_text("arrival")


async def test_an_observer_sees_the_room_and_is_told_why_it_cannot_act(secured: Service, open_page: OpenPage) -> None:
    await start_session(secured)
    page = await open_page(url(secured, "/?room=one"))
    await page.get_by_label("Access token").fill(OBSERVER)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#phase-name")).to_have_text("arrival")
    await page.get_by_role("button", name="Hold", exact=True).click()
    await expect(page.locator("#alerts-region")).to_contain_text(
        "Could not hold: role 'observer' may not control (token 'nurse-station')"
    )
    assert (await secured.client.get("/api/rooms/one/state")).json()["session"]["held"] is False


async def test_sign_out_sits_away_from_panic_on_a_phone(secured: Service, open_page: OpenPage) -> None:
    await start_session(secured)
    page = await open_page(url(secured, "/?room=one"), viewport={"width": 390, "height": 844})
    await page.get_by_label("Access token").fill(THERAPIST)
    await page.get_by_label("Device PIN (optional)").fill("4711")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#phase-name")).to_have_text("arrival")
    panic = await page.locator("#panic").bounding_box()
    sign_out = await page.get_by_role("button", name="Sign out…").bounding_box()
    lock = await page.get_by_role("button", name="Lock").bounding_box()
    assert panic is not None and sign_out is not None and lock is not None
    # Lock (which keeps PANIC on screen) stands between them.
    gap = panic["x"] - (sign_out["x"] + sign_out["width"])
    assert gap >= 80 and sign_out["x"] < lock["x"] < panic["x"], (sign_out, lock, panic)
