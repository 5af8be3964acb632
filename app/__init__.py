"""Arcroom: the session environment controller for psychedelic-assisted therapy rooms."""

__version__ = "0.1.0"
