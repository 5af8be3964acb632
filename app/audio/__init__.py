"""Audio adapter: a room's player behind a small interface (libVLC for real, a fake for speed)."""

from app.audio.player import AudioUnavailable, Player, PlayerStatus, vlc_args
from app.audio.fake import FakePlayer
from app.audio.vlc_player import VlcPlayer

__all__ = ["AudioUnavailable", "FakePlayer", "Player", "PlayerStatus", "VlcPlayer", "vlc_args"]
