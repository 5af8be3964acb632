"""A room's music: the two-deck controller that follows the music plan, demo music, playlist checks."""

from app.music.check import PlaylistReport, check_playlists, playlist_report
from app.music.demo import generate_demo_library
from app.music.room import MusicRoom, MusicStatus, NextUp, NowPlaying

__all__ = ["MusicRoom", "MusicStatus", "NextUp", "NowPlaying", "PlaylistReport", "check_playlists",
           "generate_demo_library", "playlist_report"]
