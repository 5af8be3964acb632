"""The dashboard against the documented shapes of the music API (the room view's `audio`, which is
app.music.room.MusicStatus; POST /audio; GET /plan): now playing, next track, volume and transport,
the music plan on the timeline, and a failed deck shown as failed.

The service here is real; only the music endpoints and the room view's `audio` are stood in
for by the browser (Playwright routes), so the page sees exactly the documented JSON."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.async_api import Page, Route, expect

from tests.conftest import Service
from tests.web.conftest import OpenPage, eventually, room_state, session_command, start_session, url

MIN = 60.0


def music_view(view: dict[str, Any]) -> dict[str, Any]:
    now = view["session"]["now"]
    return {
        **view,
        "audio": {
            "state": "playing",
            "now_playing": {
                "title": "Requiem for Dying Mothers",
                "artist": "Stars of the Lid",
                "segment": "ascent",
                "position_s": 120.0,
                "duration_s": 600.0,
            },
            "next": {"title": "Vltava", "artist": "Bedřich Smetana", "starts_at": now + 480},
            "volume_pct": 40,
            "ceiling_pct": 70,
            "error": None,
            "playlist": "psilocybin",
            "paused_since": None,
        },
    }


def plan(view: dict[str, Any]) -> dict[str, Any]:
    s = view["session"]
    dose = s["dose_at"]
    return {
        "tracks": [
            {
                "segment": "onset",
                "phase": "onset",
                "title": "Opening",
                "artist": "A",
                "start": dose,
                "end": dose + 40 * MIN,
            },
            {
                "segment": "ascent",
                "phase": "ascent",
                "title": "Requiem for Dying Mothers",
                "artist": "Stars of the Lid",
                "start": dose + 40 * MIN,
                "end": dose + 52 * MIN,
            },
            {
                "segment": "ascent",
                "phase": "ascent",
                "title": "Vltava",
                "artist": "Bedřich Smetana",
                "start": dose + 52 * MIN,
                "end": dose + 75 * MIN,
            },
        ]
    }


async def stand_in(
    page: Page, view: dict[str, Any], plan_body: dict[str, Any] | None, posted: list[dict[str, Any]]
) -> None:
    async def rooms(route: Route) -> None:
        await route.fulfill(json=[view])

    async def stream(route: Route) -> None:
        await route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream"},
            body=f"retry: 600000\nevent: state\ndata: {json.dumps(view)}\n\n",
        )

    async def plan_route(route: Route) -> None:
        if plan_body is None:
            await route.fulfill(status=404, json={"detail": "Not Found"})
        else:
            await route.fulfill(json=plan_body)

    async def audio(route: Route) -> None:
        posted.append(json.loads(route.request.post_data or "{}"))
        await route.fulfill(json=view["audio"])

    await page.route(re.compile(r".*/api/rooms$"), rooms)
    await page.route(re.compile(r".*/api/rooms/one/state$"), lambda route: route.fulfill(json=view))
    await page.route(re.compile(r".*/api/rooms/one/stream.*"), stream)
    await page.route(re.compile(r".*/api/rooms/one/plan$"), plan_route)
    await page.route(re.compile(r".*/api/rooms/one/audio$"), audio)


async def dosed_view(service: Service) -> dict[str, Any]:
    await start_session(service)
    await session_command(service, "/dose", {})
    await service.clock.advance(42 * MIN)
    return await room_state(service)


async def test_now_playing_next_volume_and_transport(service: Service, open_page: OpenPage) -> None:
    view = music_view(await dosed_view(service))
    posted: list[dict[str, Any]] = []
    page = await open_page("about:blank")
    await stand_in(page, view, plan(view), posted)
    await page.goto(url(service, "/?room=one"))

    card = page.locator("#audio-card")
    await expect(card.locator("#np-title")).to_have_text("Requiem for Dying Mothers")
    await expect(card.locator("#np-artist")).to_have_text("Stars of the Lid · ascent")
    await expect(card.locator("#np-times")).to_have_text("2:00 / 10:00")
    await expect(card.locator("#next-track")).to_contain_text("Next: Vltava — Bedřich Smetana at ")
    slider = card.get_by_label("Volume", exact=True)
    await expect(slider).to_have_value("40")
    await expect(slider).to_have_attribute("max", "70")
    await expect(card.locator("#volume-hint")).to_contain_text("ceiling is 70 %")

    # Quick taps are gathered into few changes (the service ramps each), the last one what was
    # asked, and never past the ceiling. (How many changes depends on how quickly the taps come:
    # a loaded machine spaced them past the gathering window, so only "fewer than the taps" holds.)
    up = card.get_by_role("button", name="Volume up")
    await up.click()
    await up.click()
    await expect(card.locator("#volume-value")).to_have_text("50 %")
    await eventually(lambda: posted[-1:] == [{"volume": 50}], f"the last change 50, got {posted}")
    first = len(posted)
    assert 1 <= first <= 2 and all(p["volume"] <= 50 for p in posted), posted
    for _ in range(6):
        await up.click()
    await expect(card.locator("#volume-value")).to_have_text("70 %")
    await eventually(lambda: posted[-1:] == [{"volume": 70}], f"then the ceiling, 70, got {posted}")
    assert 1 <= len(posted) - first < 6 and all(p["volume"] <= 70 for p in posted), posted
    volume_changes = len(posted)

    await card.get_by_role("button", name="Pause music").click()
    await card.get_by_role("button", name="Skip track").click()
    await eventually(
        lambda: [p for p in posted[volume_changes:] if "action" in p] == [{"action": "pause"}, {"action": "skip"}],
        f"pause, skip: {posted}",
    )

    # The plan is drawn on the timeline, a block per music segment, the track playing marked.
    await page.get_by_role("tab", name="Timeline").click()
    await expect(page.locator("#music-row")).to_be_visible()
    await expect(page.locator("#lane-music .seg")).to_have_count(2)
    await expect(page.locator("#lane-music .seg").nth(1)).to_have_attribute(
        "title", re.compile("^ascent music: 2 tracks")
    )
    await expect(page.locator("#music-now")).to_have_attribute("title", re.compile("^Requiem for Dying Mothers"))


FAILED_OUTPUT = "no audio output: ALSA cannot open device 'default'"


async def open_with_audio(
    open_page: OpenPage, service: Service, view: dict[str, Any], audio: dict[str, Any], **changes: Any
) -> Page:
    page = await open_page("about:blank")
    await stand_in(page, {**view, **changes, "audio": {**view["audio"], **audio}}, None, [])
    await page.goto(url(service, "/?room=one"))
    await expect(page.locator("#room-name")).to_have_text("Room one")
    return page


async def test_a_failed_deck_is_shown_as_failed_with_its_reason(service: Service, open_page: OpenPage) -> None:
    view = music_view(await dosed_view(service))
    # The player says so ("error"), or a deck reports an error while the state still says playing:
    # either way the card says the music failed and why, and shows no progress as if it played.
    for state in ("error", "playing"):
        page = await open_with_audio(open_page, service, view, {"state": state, "error": FAILED_OUTPUT})
        card = page.locator("#audio-card")
        await expect(card.locator("#audio-state")).to_have_text("Failed")
        await expect(card.locator("#audio-error")).to_have_text(f"Music failed: {FAILED_OUTPUT}")
        await expect(card.locator("#np-progress-row")).to_be_hidden()
        await expect(card.locator("#next-track")).to_be_hidden()
        await expect(card).not_to_contain_text("Playing", use_inner_text=True)


async def test_missing_tracks_are_named_on_the_music_card_and_a_playlist_that_cannot_play_failed(
    service: Service, open_page: OpenPage
) -> None:
    view = music_view(await dosed_view(service))
    few = "2 of 49 tracks of playlist 'hopkins_psilocybin' missing in /srv/music"
    page = await open_with_audio(open_page, service, view, {"missing_tracks": few})
    card = page.locator("#audio-card")
    await expect(card.locator("#audio-missing")).to_have_text(f"Library: {few}; they are skipped.")
    await expect(card.locator("#audio-state")).not_to_have_text("Failed")
    most = "47 of 49 tracks of playlist 'hopkins_psilocybin' missing in /srv/music"
    page = await open_with_audio(open_page, service, view, {"state": "error", "error": most, "missing_tracks": most})
    card = page.locator("#audio-card")
    await expect(card.locator("#audio-error")).to_have_text(f"Music failed: {most}")
    await expect(card.locator("#audio-missing")).to_be_hidden()


async def test_without_a_session_the_music_card_offers_nothing_it_cannot_do(
    service: Service, open_page: OpenPage
) -> None:
    view = music_view(await dosed_view(service))
    idle = {"state": "stopped", "now_playing": None, "next": None}
    page = await open_with_audio(open_page, service, view, idle, session=None)
    card = page.locator("#audio-card")
    await expect(card.locator("#np-title")).to_have_text("Nothing playing")
    await expect(card.locator("#audio-state")).to_have_text("Stopped")
    await expect(page.get_by_role("button", name="Resume music")).to_be_hidden()
    await expect(page.get_by_role("button", name="Skip track")).to_be_hidden()
    await expect(card.get_by_label("Volume", exact=True)).to_be_visible()  # the room's level can be set

    # Just after a session: what still sounds is fading out, not "Playing", and nothing is offered.
    page = await open_with_audio(open_page, service, view, {"state": "playing"}, session=None)
    card = page.locator("#audio-card")
    await expect(card.locator("#audio-state")).to_have_text("Fading out")
    await expect(card.locator("#np-progress-row")).to_be_hidden()
    await expect(card.locator("#transport")).to_be_hidden()
    await expect(card.locator("#next-track")).to_be_hidden()
