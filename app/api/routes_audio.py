"""The room's music: pause, resume, skip, volume, and the plan for the dashboard's timeline."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.auth import Control, Principal, Read
from app.api.bodies import AudioCommand
from app.api.deps import known_room, runtime
from app.domain.music_plan import MusicPlan
from app.music.room import MusicStatus
from app.runtime import Runtime

router = APIRouter(prefix="/api/rooms")


@router.post("/{room}/audio", summary="pause | resume | skip, and/or a volume (ramped over at least 2 s)")
async def audio(body: AudioCommand, room: str = Depends(known_room), principal: Principal = Control,
                rt: Runtime = Depends(runtime)) -> MusicStatus:
    return await rt.music.command(room, body.action, body.volume, by=f"http:{principal.name}")


@router.get("/{room}/plan", dependencies=[Read], summary="Every planned track: start, end, fades, segment")
async def plan(room: str = Depends(known_room), rt: Runtime = Depends(runtime)) -> MusicPlan:
    return rt.music.plan(room) or MusicPlan(tracks=[])
