"""A room's music as a Snapcast stream: the decks' mix fed to the stream, the room's players steered.

The feed (app/audio/pcm_feed.py) writes what the decks play, on time; the control
(app/audio/snapcast_control.py) keeps the room's players on the stream and mutes them. snapserver
buffers (1 s by default) before the players sound, so a panic mutes the players first; the source's
pause follows and is what the players hear once they are unmuted.
"""

from __future__ import annotations

import asyncio

from pydantic import Field

from app.audio.pcm_feed import PcmFeed
from app.audio.snapcast_control import SnapcastControl, SnapcastStatus
from app.domain.rooms import Snapcast


class SnapcastOutputStatus(SnapcastStatus):
    source: str = Field(description="The stream's input Arcroom feeds")
    feeding: bool = Field(description="Arcroom is writing the room's mix to the source now")


class SnapcastOutput:
    def __init__(self, room_id: str, config: Snapcast) -> None:
        self.room_id = room_id
        self.config = config
        self.feed = PcmFeed(room_id, config.source)
        self.control = SnapcastControl(room_id, config)

    async def start(self) -> None:
        self.feed.start()

    async def close(self) -> None:
        await self.control.close()
        await asyncio.to_thread(self.feed.close)

    async def run(self) -> None:
        await self.control.run()

    async def silence(self) -> None:
        """Mute the room's players now: what is already in snapserver's buffer is not heard."""
        await self.control.mute()

    async def unsilence(self) -> None:
        await self.control.unmute()

    async def duck(self, db: float, over_s: float) -> None:
        """Talk: the players down by `db` (0: back up) over `over_s`."""
        await self.control.duck(db, over_s)

    @property
    def duck_db(self) -> float:
        return self.control.duck_db

    def problem(self) -> str | None:
        """What keeps the music from the room's players, if anything: a player away for more than
        GONE_ALERT_S is one (a blip on the network is not)."""
        if (error := self.feed.error or self.control.error) is not None:
            return error
        away = [c.id for c in self.control.status().clients if c.alert]
        if away:
            return f"the room's Snapcast player {', '.join(away)} is not connected to snapserver"
        return None

    def status(self) -> SnapcastOutputStatus:
        control = self.control.status()
        return SnapcastOutputStatus(
            **control.model_dump(exclude={"error"}),
            error=self.problem(),
            source=self.config.source,
            feeding=self.feed.connected,
        )
