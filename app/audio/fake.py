"""A player that plays nothing, for fast tests; the contract suite holds it to VlcPlayer's behaviour."""

from __future__ import annotations

from app.audio.player import PlayerStatus, PlayState


class FakePlayer:
    def __init__(self, output: str = "fake") -> None:
        self.output = output
        self.started = False
        self._state: PlayState = "stopped"
        self._media: str | None = None
        self._volume = 100
        self.calls: list[str] = []

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.started = False
        self._state = "stopped"

    async def play(self, path: str, *, start_ms: int = 0) -> None:
        self.calls.append(f"play {path} @{start_ms}")
        self._media, self._state = path, "playing"

    async def pause(self) -> None:
        self.calls.append("pause")
        if self._state == "playing":
            self._state = "paused"

    async def resume(self) -> None:
        self.calls.append("resume")
        if self._state == "paused":
            self._state = "playing"

    async def stop(self) -> None:
        self.calls.append("stop")
        self._media, self._state = None, "stopped"

    async def set_volume(self, volume_pct: int) -> None:
        self._volume = max(0, min(100, volume_pct))

    def status(self) -> PlayerStatus:
        return PlayerStatus(state=self._state, media=self._media, volume_pct=self._volume, output=self.output)
