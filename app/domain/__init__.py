"""Pure domain: presets, rooms, events and the session arc. Imports no adapter."""
