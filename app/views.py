"""What a dashboard or a smart-home system sees of a room, serialised once per change.

The dashboard's stream, its polling and the MQTT state topic all ask for a room's view after
each change; the JSON is made once and shared by every reader of the same moment.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field

from app.domain.clock import Clock
from app.domain.room_log import PanicStatus
from app.domain.session import SessionState
from app.music.decks import MusicStatus
from app.room import RefusableCommand, RoomController, RoomLighting

# A room's serialised view is reused within the same quarter second (and until anything changes):
# the music's position moves continuously, and nobody needs it finer than that.
VIEW_CACHE_PER_S = 4


class RoomView(BaseModel):
    """What a dashboard or a smart-home system sees of a room."""

    id: str = Field(description="The room's id, as in the rooms file")
    name: str = Field(description="The room's name, for people")
    now: float = Field(description="The service's clock, epoch seconds, so a tablet can correct for its own")
    session: SessionState | None = Field(description="The running session; None between sessions")
    panic: PanicStatus = Field(description="In panic, held after one, or neither (from the room's log)")
    lighting: RoomLighting = Field(description="What the lights were sent towards, and why, and each light's state")
    audio: MusicStatus = Field(description="What the music is doing, as the players report it")
    mqtt_connected: bool = Field(description="Whether the service is connected to the MQTT broker now")
    refused: dict[RefusableCommand, str] = Field(
        default_factory=dict,
        description="Commands the room refuses now (hold, resume, lights, music), each with the reason its "
        '409 gives ("in panic: the lights stay at the panic scene until the panic is cleared"); a command '
        "not listed may be sent",
    )


def room_view(room: RoomController, mqtt_connected: bool) -> RoomView:
    session = room.session()
    return RoomView(
        id=room.id,
        name=room.room.name,
        now=room.clock.now(),
        session=session,
        panic=room.panic_status(),
        lighting=room.lighting(session),
        audio=room.audio_status(),
        mqtt_connected=mqtt_connected,
        refused=room.refused(),
    )


def sse_frame(event: str, data: str) -> bytes:
    """One server-sent event (data must be one line: compact JSON is)."""
    return f"event: {event}\ndata: {data}\n\n".encode()


class ViewCache:
    def __init__(self, rooms: Mapping[str, RoomController], clock: Clock) -> None:
        self._rooms = rooms
        self._clock = clock
        self._cache: dict[str, tuple[tuple[object, ...], RoomView, bytes]] = {}
        self._frames: dict[str, tuple[bytes, bytes]] = {}  # the SSE frame of each room's cached view
        self._public: dict[str, tuple[bytes, bytes]] = {}  # its public (MQTT) form

    def view(self, room_id: str, mqtt_connected: bool) -> RoomView:
        """The room's view, built once per change (or per 1/VIEW_CACHE_PER_S) for every reader."""
        return self._entry(room_id, mqtt_connected)[1]

    def json(self, room_id: str, mqtt_connected: bool) -> bytes:
        return self._entry(room_id, mqtt_connected)[2]

    def _entry(self, room_id: str, mqtt_connected: bool) -> tuple[tuple[object, ...], RoomView, bytes]:
        room = self._rooms[room_id]
        key = (room.version, room.lights.version, mqtt_connected, int(self._clock.now() * VIEW_CACHE_PER_S))
        cached = self._cache.get(room_id)
        if cached is not None and cached[0] == key:
            return cached
        view = room_view(room, mqtt_connected)
        entry = (key, view, view.model_dump_json().encode())
        self._cache[room_id] = entry
        self._frames.pop(room_id, None)
        return entry

    def public_json(self, room_id: str, mqtt_connected: bool) -> bytes:
        """The view for the broker's state topic, which more clients may read than the API's: without
        the client's label or intention (personal data stays behind the API's tokens)."""
        entry = self._entry(room_id, mqtt_connected)
        cached = self._public.get(room_id)
        if cached is not None and cached[0] is entry[2]:
            return cached[1]
        view = entry[1]
        if view.session is not None and (view.session.client_label or view.session.intention):
            session = view.session.model_copy(update={"client_label": None, "intention": None})
            data = view.model_copy(update={"session": session}).model_dump_json().encode()
        else:
            data = entry[2]
        self._public[room_id] = (entry[2], data)
        return data

    def sse_state(self, room_id: str, mqtt_connected: bool) -> bytes:
        """The view as a `state` event, made once for every stream of the room."""
        data = self.json(room_id, mqtt_connected)
        cached = self._frames.get(room_id)
        if cached is not None and cached[0] is data:
            return cached[1]
        frame = b"event: state\ndata: " + data + b"\n\n"
        self._frames[room_id] = (data, frame)
        return frame
