"""The music card's Talk, Gentler and Playlist controls (js/music.js), in Chromium against the real service.

The service is real (fake decks on a manual clock): each tap goes through the API to the room,
and what the card shows next comes back from the room's own state.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service, serve
from tests.music.test_music_api import CALM_YAML
from tests.web.conftest import OpenPage, room_state, session_command, start_session, url


@pytest.fixture
async def music_service(settings: Settings, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Service]:
    folder = tmp_path / "playlists"
    folder.mkdir()
    (folder / "calm_ketamine_im.yaml").write_text(CALM_YAML)
    with_calm = settings.model_copy(update={"playlists_dir": (*settings.playlists_dir, folder)})
    async with serve(with_calm, clock) as svc:
        yield svc


async def events(service: Service, session: str) -> list[dict[str, Any]]:
    return list((await service.client.get(f"/api/sessions/{session}/events")).json())


async def test_talk_turns_the_music_down_and_back_from_the_card(service: Service, open_page: OpenPage) -> None:
    session = (await start_session(service))["session_id"]
    await session_command(service, "/dose", {})
    await service.clock.advance(60)
    page = await open_page(url(service, "/?room=one"))
    card = page.locator("#audio-card")
    talk = card.get_by_role("button", name="Talk")
    await expect(talk).to_have_attribute("aria-pressed", "false")
    await expect(card.get_by_role("button", name="Gentler music")).to_be_hidden()  # the demo set has no tags
    await expect(card.locator("#playlist-row")).to_be_hidden()  # one playlist for this preset: no choice

    await talk.click()
    end = card.get_by_role("button", name="End talk")
    await expect(end).to_have_attribute("aria-pressed", "true")
    back = re.compile(r"^The music is turned down for talk; it comes back by itself at \d\d:\d\d\.$")
    await expect(end).to_have_attribute("title", back)
    assert (await room_state(service))["audio"]["talking"] is True
    # The card itself says the music is lowered, and until when (not "Playing").
    until = (await room_state(service))["audio"]["talk_until"]
    await expect(card.locator("#audio-state")).to_have_text("Lowered for talk")
    back_at = datetime.fromtimestamp(until, UTC).strftime("%H:%M")  # the tests' clinic zone is UTC
    await expect(card.locator("#talk-status")).to_have_text(f"Lowered for talk, back at {back_at}.")
    await end.click()
    await expect(card.locator("#audio-state")).to_have_text("Playing")
    await expect(card.locator("#talk-status")).to_be_hidden()
    await expect(card.get_by_role("button", name="Talk")).to_have_attribute("aria-pressed", "false")
    talk_events = [e["data"]["on"] for e in await events(service, session) if e["type"] == "talk"]
    assert talk_events == [True, False]


async def test_another_playlist_and_gentler_music_from_the_card(music_service: Service, open_page: OpenPage) -> None:
    service = music_service
    session = (await start_session(service, preset="ketamine_im", playlist="demo_ketamine_im"))["session_id"]
    await service.clock.advance(30)
    page = await open_page(url(service, "/?room=one"))
    card = page.locator("#audio-card")
    choice = card.get_by_label("Playlist")
    await expect(choice).to_be_visible()
    await expect(choice).to_have_value("demo_ketamine_im")
    menu, frame = await choice.bounding_box(), await card.bounding_box()
    assert menu is not None and frame is not None and menu["width"] >= frame["width"] * 0.8, (menu, frame)  # not 52 px
    await expect(card.get_by_role("button", name="Gentler music")).to_be_hidden()

    await choice.select_option("calm_ketamine_im")
    gentler = card.get_by_role("button", name="Gentler music")
    await expect(gentler).to_be_visible()  # the calm set is tagged by intensity
    await expect(choice).to_have_value("calm_ketamine_im")
    await gentler.click()
    await expect(card.get_by_role("button", name="Gentler: asked")).to_be_disabled()
    kinds = [(e["type"], e["data"].get("playlist")) for e in await events(service, session)]
    assert ("playlist_changed", "calm_ketamine_im") in kinds and ("music_gentler", None) in kinds


async def test_gentler_from_the_card_takes_an_intense_track_away_within_seconds(
    music_service: Service, open_page: OpenPage
) -> None:
    service = music_service
    await start_session(service, preset="ketamine_im", playlist="calm_ketamine_im")
    page = await open_page(url(service, "/?room=one"))
    card = page.locator("#audio-card")
    await service.clock.advance(110)  # Slow Tide (intensity 1) has crossfaded into Open Sky (4)
    await expect(card.locator("#np-title")).to_have_text("Open Sky")
    await card.get_by_role("button", name="Gentler music").click()
    await expect(card.get_by_role("button", name="Gentler: asked")).to_be_disabled()
    await service.clock.advance(30)  # not at Open Sky's end, 100 s away: within the 8 s crossfade
    await expect(card.locator("#np-title")).to_have_text("Homeward")
