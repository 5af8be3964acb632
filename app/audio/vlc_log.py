"""What libVLC and ALSA say about the audio output, read for the reason it fails (and kept off stderr).

libVLC goes on "playing" a track whose audio output cannot be opened: its state is Playing and
its clock runs, so neither tells that nothing is heard. Its log does: each attempt to open the
output ends in "failed to create audio output", after the output module's own reason (ALSA's
missing device, PulseAudio's refused connection). libVLC tries again for every block of audio,
about 28 times a second, and ALSA prints eight lines to stderr for each try: left alone, a room
without sound fills the journal with thousands of lines a minute (issue 13). So:

- `OutputLog` takes over an instance's log (`libvlc_log_set`): errors of the output modules are
  kept as the reason, and "failed to create audio output" calls `on_failure(reason)`. Nothing
  else of libVLC's log is needed (the service says what matters in its own words).
- `quiet_alsa()` gives ALSA an error handler that counts its messages instead of printing them
  (`snd_lib_error_set_handler`, process-wide); `alsa_messages()` says how many there were.

Both callbacks run on libVLC's (or ALSA's) threads: they only store and hand on, never call libVLC.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

LOG_ERROR = 4  # libvlc_log_level: DEBUG 0, NOTICE 2, WARNING 3, ERROR 4
# libVLC's output modules (shortnames as the log names them), and how the reason calls them.
OUTPUT_MODULES = {
    "alsa": "ALSA",
    "vlcpulse": "PulseAudio",
    "pulse": "PulseAudio",
    "afile": "afile",
    "adummy": "dummy",
    "oss": "OSS",
    "jack": "JACK",
    "sndio": "sndio",
    "amem": "amem",
}
FAILED = ("failed to create audio output", "Audio output failed")
MAX_REASONS = 4

_libc: Any = None


def _format(fmt: bytes | None, args: Any) -> str:
    """The message: the printf format filled in from libVLC's va_list (passed on as the pointer it is)."""
    global _libc
    if fmt is None:
        return ""
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c"))
            _libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
            _libc.vsnprintf.restype = ctypes.c_int
        buf = ctypes.create_string_buffer(512)
        _libc.vsnprintf(buf, len(buf), fmt, args)
        return buf.value.decode("utf-8", "replace")
    except (OSError, AttributeError, ctypes.ArgumentError):
        return fmt.decode("utf-8", "replace")  # the format alone still says what went wrong


class OutputLog:
    """One libVLC instance's log, reduced to why its audio output fails."""

    def __init__(self, vlc: ModuleType, instance: Any, on_failure: Callable[[str], None]) -> None:
        self._on_failure = on_failure
        self._reasons: list[str] = []
        self._lock = threading.Lock()
        get_context = vlc.dll.libvlc_log_get_context
        get_context.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.POINTER(ctypes.c_uint),
        ]
        get_context.restype = None
        self._get_context = get_context
        # Kept referenced for as long as the instance lives: libVLC holds only the C pointer.
        self._callback = vlc.CallbackDecorators.LogCb(self._on_log)
        instance.log_set(self._callback, None)

    def reason(self) -> str | None:
        with self._lock:
            return "; ".join(self._reasons) or None

    def _on_log(self, data: Any, level: int, ctx: Any, fmt: bytes | None, args: Any) -> None:
        if level < LOG_ERROR:
            return
        try:
            module = ctypes.c_char_p()
            file = ctypes.c_char_p()
            line = ctypes.c_uint()
            self._get_context(ctx, ctypes.byref(module), ctypes.byref(file), ctypes.byref(line))
            name = (module.value or b"").decode("ascii", "replace")
            text = _format(fmt, args).strip()
            if name in OUTPUT_MODULES:
                label = OUTPUT_MODULES[name]
                reason = text if text.lower().startswith(label.lower()) else f"{label}: {text}"
                with self._lock:
                    if reason not in self._reasons:
                        self._reasons.append(reason)
                        del self._reasons[:-MAX_REASONS]
            elif text in FAILED:
                self._on_failure(self.reason() or f"libVLC: {text}")
        except Exception:  # an exception must never cross back into libVLC's thread
            log.debug("could not read a libVLC log message", exc_info=True)


_alsa_handler: Any = None
_alsa_count = 0
_alsa_lock = threading.Lock()


def quiet_alsa() -> bool:
    """Count ALSA's error messages instead of printing them (once per process); False without ALSA."""
    global _alsa_handler
    with _alsa_lock:
        if _alsa_handler is not None:
            return True
        name = ctypes.util.find_library("asound")
        if name is None:
            return False
        try:
            asound = ctypes.CDLL(name)
        except OSError:
            return False
        # The real handler is variadic; only its fixed arguments are read here, which every
        # calling convention Linux uses passes the same way.
        handler_type = ctypes.CFUNCTYPE(
            None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
        )
        _alsa_handler = handler_type(_count_alsa)
        asound.snd_lib_error_set_handler(_alsa_handler)
        return True


def _count_alsa(file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None) -> None:
    global _alsa_count
    _alsa_count += 1


def alsa_messages() -> int:
    """How many messages ALSA has had to say since quiet_alsa()."""
    return _alsa_count
