"""A room's music: the director that follows the session, its two decks, demo music, playlist checks."""

from app.music.check import PlaylistReport, check_playlists, playlist_report
from app.music.decks import DeckPair, MusicStatus, NextUp, NowPlaying
from app.music.demo import generate_demo_library

__all__ = [
    "DeckPair",
    "MusicStatus",
    "NextUp",
    "NowPlaying",
    "PlaylistReport",
    "check_playlists",
    "generate_demo_library",
    "playlist_report",
]
