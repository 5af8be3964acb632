"""The room's music: pause, resume, skip, volume, Talk, the playlist and gentler music, and the plan."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.auth import Control, Principal, Read
from app.api.bodies import AudioCommand, ChoosePlaylist, Talk
from app.api.deps import room
from app.api.openapi import ROOM_ERRORS
from app.domain.music_plan import MusicPlan
from app.music.decks import MusicStatus
from app.music.director import PlaylistOption
from app.room import RoomController

router = APIRouter(prefix="/api/rooms", tags=["music"], responses=ROOM_ERRORS)


@router.post("/{room}/audio", summary="pause | resume | skip, and/or a volume (ramped over at least 2 s)")
async def audio(body: AudioCommand, principal: Principal = Control, r: RoomController = Depends(room)) -> MusicStatus:
    """A pause fades out over 2 s; a resume fades in over 3 s; skip goes to the next track with a crossfade. 409 in
    panic for pause, resume and skip.
    """
    return await r.audio(body.action, body.volume, by=principal.by)


@router.post(
    "/{room}/audio/talk",
    summary="Talk: duck the music while the facilitator speaks (on), bring it back (off)",
    description="On: the music goes down by ARCROOM_TALK_DUCK_DB (-12 dB) over ARCROOM_TALK_FADE_S (1 s) and "
    "stays down until released or ARCROOM_TALK_TIMEOUT_S (300 s); off: it comes back over "
    "ARCROOM_TALK_RESTORE_S (3 s). Recorded in the session. 409 when no session runs.",
)
async def talk(body: Talk, principal: Principal = Control, r: RoomController = Depends(room)) -> MusicStatus:
    return await r.talk(body.on, by=principal.by)


@router.get(
    "/{room}/audio/playlists",
    dependencies=[Read],
    summary="The playlists made for the running session's preset, the one playing first",
)
async def playlists(r: RoomController = Depends(room)) -> list[PlaylistOption]:
    """Playlists made for the running session's preset whose library is configured; the one playing first."""
    return r.playlist_options()


@router.post(
    "/{room}/audio/playlist",
    summary="Play another playlist from now on (it crossfades in at the arc's current phase)",
    description="The playlist must be made for the session's preset and its library configured. Recorded in the "
    "session, so a restart plays it too; chosen while the music is paused, it plays when it resumes. "
    "404: no such playlist; 409: no session, not for this preset, library missing, or already playing.",
)
async def playlist(
    body: ChoosePlaylist, principal: Principal = Control, r: RoomController = Depends(room)
) -> MusicStatus:
    return await r.choose_playlist(body.playlist, by=principal.by)


@router.post(
    "/{room}/audio/gentler",
    summary="Gentler music from the next track on, for the rest of the current phase",
    description="The plan passes over pieces above the segment's median intensity (playlist `intensity` tags). "
    "Recorded in the session. 409 when no session runs or the current segment has no intensity tags.",
)
async def gentler(principal: Principal = Control, r: RoomController = Depends(room)) -> MusicStatus:
    return await r.gentler(by=principal.by)


@router.get("/{room}/plan", dependencies=[Read], summary="Every planned track: start, end, fades, segment")
async def plan(r: RoomController = Depends(room)) -> MusicPlan:
    """Every planned track of the session's music: start and end (epoch seconds), fades (seconds), segment, gain
    (dB).
    """
    return await r.music.settled_plan() or MusicPlan(tracks=[])
