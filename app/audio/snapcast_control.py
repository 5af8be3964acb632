"""A room's Snapcast players, steered over snapserver's JSON-RPC control API (TCP, one JSON per line).

Plain JSON-RPC rather than the `snapcast` package: every request here has a deadline (a panic's
mute must not wait on a server that stopped answering), and the whole of it is a few calls:
`Server.GetStatus`, `Client.SetVolume`, `Group.SetStream`, and the server's notifications.

What the room wants of its players is held here (on the room's stream, at full volume, muted or
not) and put back whenever the server says something changed: a player that reconnects, a group
moved to another stream, a volume changed from another app.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import time
from typing import Any

from pydantic import BaseModel, Field

from app.domain.rooms import Snapcast

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 2.0
MUTE_TIMEOUT_S = 0.25  # the bound for a panic's mute, read back
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
# A player gone this long in a session is an alert (a blip on the network is not).
GONE_ALERT_S = 10.0
FULL_VOLUME = 100  # the mix already carries the room's volume under its ceiling
# Talk turns the players down themselves (the mix would be heard one buffer late), in steps this far apart.
DUCK_STEP_S = 0.2
# snapclient's default (software) mixer scales the samples by (10 ** (percent / 100) - 1) / 9
# (measured with a steady tone: 80 % gave 0.590 of full scale, 50 % 0.240, 25 % 0.0864).
PLAYER_MIXER_BASE = 10.0
SILENT_DB = -90.0  # a player at 0 %, reported as this rather than minus infinity


def player_percent(db: float) -> int:
    """The player volume that turns the music down by `db` (0 or negative) on snapclient's mixer."""
    gain = 10 ** (min(0.0, db) / 20)
    b = PLAYER_MIXER_BASE
    return max(0, min(FULL_VOLUME, round(FULL_VOLUME * math.log(gain * (b - 1) + 1, b))))


def player_db(percent: int) -> float:
    """How far a player at `percent` turns the music down, dB (the inverse of player_percent)."""
    b = PLAYER_MIXER_BASE
    gain = (b ** (max(0, min(FULL_VOLUME, percent)) / FULL_VOLUME) - 1) / (b - 1)
    return SILENT_DB if gain <= 0 else max(SILENT_DB, 20 * math.log10(gain))


class SnapcastUnavailable(RuntimeError):
    """snapserver cannot be reached, or did not answer in time."""


class SnapClientStatus(BaseModel):
    id: str
    connected: bool = Field(description="Connected to the snapserver now")
    known: bool = Field(description="The snapserver knows this player (it has connected at least once)")
    on_stream: bool = Field(description="Its group plays the room's stream")
    muted: bool
    volume_pct: int | None = None
    latency_ms: int | None = Field(default=None, description="The player's configured extra latency")
    gone_since: float | None = Field(default=None, description="Epoch seconds it has been away since, if it is")
    alert: bool = Field(default=False, description=f"Away for more than {GONE_ALERT_S:.0f} s")


class SnapcastStatus(BaseModel):
    output: str = "snapcast"
    server: str = Field(description="host:control_port")
    stream: str
    reachable: bool
    error: str | None = None
    muted: bool = Field(description="Arcroom holds the room's players muted (panic)")
    clients: list[SnapClientStatus]


class SnapcastControl:
    """The room's players on one snapserver: kept on the room's stream, muted when the room says so."""

    def __init__(self, room_id: str, config: Snapcast) -> None:
        self.room_id = room_id
        self.config = config
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._server: dict[str, Any] = {}  # the last Server.GetStatus "server" object
        self._dirty = asyncio.Event()
        self._muted = False
        self._percent = FULL_VOLUME  # the players' volume now, as sent
        self._ducking: asyncio.Task[None] | None = None
        self._gone: dict[str, float] = {}  # client id -> epoch seconds it was last seen leaving
        self.error: str | None = "not connected yet"

    # --- what the room asks ---

    async def mute(self) -> None:
        """Mute every player of the room now (panic): sent at once, confirmed within MUTE_TIMEOUT_S."""
        self._muted = True
        await self._set_all(within_s=MUTE_TIMEOUT_S)

    async def unmute(self) -> None:
        self._muted = False
        await self._set_all(within_s=REQUEST_TIMEOUT_S)

    async def _set_all(self, within_s: float) -> None:
        if self._writer is None:
            return  # not connected: the next connection applies it first
        ids = [c for c in self.config.clients if c in self._clients()]
        results = await asyncio.gather(*(self._set_volume(client, within_s) for client in ids), return_exceptions=True)
        for client, result in zip(ids, results, strict=True):
            if isinstance(result, BaseException):
                log.error("snapcast %s: %s could not be set (muted=%s): %s", self.room_id, client, self._muted, result)

    async def _set_volume(self, client: str, within_s: float) -> None:
        volume = {"percent": self._percent, "muted": self._muted}
        await self._request("Client.SetVolume", {"id": client, "volume": volume}, within_s)
        # The server notifies the other control clients, not the one that asked: note it here.
        known = self._clients().get(client)
        if known is not None:
            known.setdefault("config", {})["volume"] = volume

    async def duck(self, db: float, over_s: float) -> None:
        """Turn the players down by `db` (0: back up), in steps over `over_s`: heard at once, where the
        mix's own duck would be heard a buffer later."""
        if self._ducking is not None:
            self._ducking.cancel()
        self._ducking = asyncio.create_task(self._ramp(player_percent(db), over_s))

    @property
    def duck_db(self) -> float:
        """Where the players are now, on the way to Talk's level and back (as sent)."""
        return player_db(self._percent)

    async def _ramp(self, target: int, over_s: float) -> None:
        start = self._percent
        steps = max(1, round(over_s / DUCK_STEP_S))
        for step in range(1, steps + 1):
            self._percent = round(start + (target - start) * step / steps)
            if self._writer is not None:
                await self._set_all(within_s=REQUEST_TIMEOUT_S)
            if step < steps:
                await asyncio.sleep(DUCK_STEP_S)

    def status(self) -> SnapcastStatus:
        clients = self._clients()
        stream_of = self._stream_of_clients()
        now = time.time()
        shown = []
        for cid in self.config.clients:
            c = clients.get(cid)
            gone = self._gone.get(cid) if c is None or not c.get("connected") else None
            volume = (c or {}).get("config", {}).get("volume", {})
            shown.append(
                SnapClientStatus(
                    id=cid,
                    connected=bool(c and c.get("connected")),
                    known=c is not None,
                    on_stream=stream_of.get(cid) == self.config.stream,
                    muted=bool(volume.get("muted", False)),
                    volume_pct=volume.get("percent"),
                    latency_ms=(c or {}).get("config", {}).get("latency"),
                    gone_since=gone,
                    alert=gone is not None and now - gone >= GONE_ALERT_S,
                )
            )
        return SnapcastStatus(
            server=f"{self.config.host}:{self.config.control_port}",
            stream=self.config.stream,
            reachable=self._writer is not None,
            error=self.error,
            muted=self._muted,
            clients=shown,
        )

    # --- the connection ---

    async def run(self) -> None:
        """Connect, keep the players as the room wants them, reconnect with back-off; until cancelled."""
        backoff = RETRY_FIRST_S
        while True:
            try:
                await self._connect()
                backoff = RETRY_FIRST_S
                await self._serve()
            except (OSError, TimeoutError, SnapcastUnavailable, ValueError) as exc:
                reason = f"snapserver {self.config.host}:{self.config.control_port}: {exc or type(exc).__name__}"
                if reason != self.error:
                    log.error("snapcast %s: %s; retrying", self.room_id, reason)
                self.error = reason
            finally:
                self._disconnect()
            await asyncio.sleep(backoff)
            backoff = min(RETRY_MAX_S, backoff * 2)

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.config.host, self.config.control_port), REQUEST_TIMEOUT_S
        )

    async def _serve(self) -> None:
        reading = asyncio.create_task(self._read(), name=f"snapcast-read-{self.room_id}")
        try:
            await self._sync()
            self.error = None
            log.info(
                "snapcast %s: steering %s on stream %s",
                self.room_id,
                ", ".join(self.config.clients),
                self.config.stream,
            )
            while True:
                dirty = asyncio.create_task(self._dirty.wait())
                await asyncio.wait({reading, dirty}, return_when=asyncio.FIRST_COMPLETED)
                dirty.cancel()
                if reading.done():
                    reading.result()  # the connection ended: why
                self._dirty.clear()
                await self._sync()
        finally:
            reading.cancel()

    def _disconnect(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
        self._fail_pending()

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SnapcastUnavailable("the connection to snapserver closed"))
        self._pending.clear()

    async def _read(self) -> None:
        assert self._reader is not None
        while True:
            line = await self._reader.readline()
            if not line:
                self._fail_pending()  # nobody waits out a deadline for an answer that cannot come
                raise SnapcastUnavailable("snapserver closed the connection")
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                log.warning("snapcast %s: ignoring a line that is not JSON: %r", self.room_id, line[:200])
                continue
            for item in message if isinstance(message, list) else [message]:
                self._handle(item)

    def _handle(self, item: dict[str, Any]) -> None:
        if "id" in item:
            future = self._pending.pop(item["id"], None)
            if future is None or future.done():
                return
            if "error" in item:
                future.set_exception(SnapcastUnavailable(f"snapserver refused: {item['error']}"))
            else:
                future.set_result(item.get("result"))
            return
        method = item.get("method", "")
        params = item.get("params") or {}
        if method == "Client.OnDisconnect" and params.get("id") in self.config.clients:
            self._gone[params["id"]] = time.time()
            log.warning("snapcast %s: player %s disconnected", self.room_id, params["id"])
        if method == "Client.OnConnect" and params.get("id") in self.config.clients:
            self._gone.pop(params["id"], None)
            log.info("snapcast %s: player %s connected", self.room_id, params["id"])
        # Anything may have moved a player of the room: read the server again and put it back.
        self._dirty.set()

    async def _request(self, method: str, params: dict[str, Any], within_s: float = REQUEST_TIMEOUT_S) -> Any:
        writer = self._writer
        if writer is None:
            raise SnapcastUnavailable("not connected to snapserver")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        writer.write(
            json.dumps({"id": request_id, "jsonrpc": "2.0", "method": method, "params": params}).encode() + b"\r\n"
        )
        try:
            async with asyncio.timeout(within_s):
                return await future
        except TimeoutError:
            raise SnapcastUnavailable(f"{method}: no answer within {within_s:.2f} s") from None
        finally:
            self._pending.pop(request_id, None)

    async def _sync(self) -> None:
        """Read the server, then put each of the room's players on its stream at the wanted volume."""
        status = await self._request("Server.GetStatus", {})
        self._server = status["server"]
        clients = self._clients()
        now = time.time()
        for cid in self.config.clients:
            c = clients.get(cid)
            if c is None or not c.get("connected"):
                self._gone.setdefault(cid, now)
        stream_of = self._stream_of_clients()
        group_of = self._group_of_clients()
        moved: set[str] = set()
        for cid in self.config.clients:
            c = clients.get(cid)
            if c is None:
                continue
            group = group_of[cid]
            if stream_of.get(cid) != self.config.stream and group not in moved:
                await self._request("Group.SetStream", {"id": group, "stream_id": self.config.stream})
                moved.add(group)
            volume = c.get("config", {}).get("volume", {})
            if volume.get("muted") != self._muted or volume.get("percent") != self._percent:
                await self._set_volume(cid, REQUEST_TIMEOUT_S)
        if moved:
            self._server = (await self._request("Server.GetStatus", {}))["server"]

    def _clients(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for g in self._server.get("groups", []) for c in g.get("clients", [])}

    def _stream_of_clients(self) -> dict[str, str]:
        return {c["id"]: g.get("stream_id") for g in self._server.get("groups", []) for c in g.get("clients", [])}

    def _group_of_clients(self) -> dict[str, str]:
        return {c["id"]: g["id"] for g in self._server.get("groups", []) for c in g.get("clients", [])}

    async def close(self) -> None:
        if self._ducking is not None:
            self._ducking.cancel()
        with contextlib.suppress(Exception):
            self._disconnect()
