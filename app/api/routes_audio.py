"""The room's music: pause, resume, skip, volume, and the plan for the dashboard's timeline."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.auth import Control, Principal, Read
from app.api.bodies import AudioCommand
from app.api.deps import room
from app.domain.music_plan import MusicPlan
from app.music.decks import MusicStatus
from app.room import RoomController

router = APIRouter(prefix="/api/rooms")


@router.post("/{room}/audio", summary="pause | resume | skip, and/or a volume (ramped over at least 2 s)")
async def audio(body: AudioCommand, principal: Principal = Control, r: RoomController = Depends(room)) -> MusicStatus:
    return await r.audio(body.action, body.volume, by=f"http:{principal.name}")


@router.get("/{room}/plan", dependencies=[Read], summary="Every planned track: start, end, fades, segment")
async def plan(r: RoomController = Depends(room)) -> MusicPlan:
    return r.music.plan or MusicPlan(tracks=[])
