"""Audio adapter: a room's player behind a small interface (libVLC for real, a fake for speed)."""

from app.audio.fake import FakePlayer
from app.audio.player import (
    AudioUnavailable,
    Listener,
    Player,
    PlayerEvent,
    PlayerStatus,
    RampPoints,
    deck_outputs,
    vlc_args,
)
from app.audio.vlc_player import VlcPlayer

__all__ = [
    "AudioUnavailable",
    "FakePlayer",
    "Listener",
    "Player",
    "PlayerEvent",
    "PlayerStatus",
    "RampPoints",
    "VlcPlayer",
    "deck_outputs",
    "vlc_args",
]
