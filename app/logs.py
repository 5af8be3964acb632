"""The service's log: one line per record, as text or JSON (journald, Loki), and never a secret.

Three layers keep credentials out of it:
- uvicorn's access log writes each request's URL: credential-like query parameters (access_token,
  ticket, anything named like a token, key, secret or password) are replaced by *** before any
  handler sees the record (`redact_access_log`, installed by create_app, so it holds however the
  app is served);
- every line a handler writes has the configured token values and the MQTT password replaced by
  *** wherever they appear (a token pasted into a path by mistake, an exception's text);
- the stream's own credential is a short-lived ticket, not a token (app/api/tickets.py).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from typing import Literal
from urllib.parse import quote, unquote_plus

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]
REDACTED = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A query parameter whose name contains one of these is a credential, whatever route it was sent to.
_SECRET_NAME_PARTS = ("token", "ticket", "secret", "pass", "key", "auth", "sig", "cred")
# uvicorn's own records that carry a URL (the access log; a websocket's accept line).
_URL_LOGGERS = ("uvicorn.access", "uvicorn.error")
# uvicorn adds an ANSI-coloured copy of some messages as an extra field: not for a JSON log.
_NOT_FIELDS = [*RESERVED_ATTRS, "color_message", "taskName"]


def redact_query(url: str) -> str:
    """The URL with every credential-like query parameter's value replaced by ***."""
    path, sep, query = url.partition("?")
    if not sep:
        return url
    parts = []
    for part in query.split("&"):
        name, eq, _value = part.partition("=")
        decoded = unquote_plus(name).lower()
        parts.append(f"{name}={REDACTED}" if eq and any(s in decoded for s in _SECRET_NAME_PARTS) else part)
    return f"{path}?{'&'.join(parts)}"


class _RedactQueries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "?" in a for a in record.args):
            record.args = tuple(redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args)
        return True


_REDACT_QUERIES = _RedactQueries()


def redact_access_log() -> None:
    """Redact credentials in the URLs uvicorn logs (idempotent: one filter per logger)."""
    for name in _URL_LOGGERS:
        logging.getLogger(name).addFilter(_REDACT_QUERIES)


class OneLineFormatter(logging.Formatter):
    """Text, with a traceback's (or a message's) line breaks written as " | ": one record, one line."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r\n", "\n").replace("\n", " | ")


class RedactingFormatter(logging.Formatter):
    """Another formatter's output with every known secret replaced by ***."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                # As written, as in a URL, and as inside a JSON string.
                forms.update({secret, quote(secret, safe=""), json.dumps(secret)[1:-1]})
        self._forms = sorted(forms, key=len, reverse=True)  # a longer form first: no half-redacted secret

    def format(self, record: logging.LogRecord) -> str:
        # The message and traceback first, as text (a JSON formatter would escape a secret in them
        # past recognising), then the whole line (any other field).
        clean = logging.makeLogRecord(record.__dict__)
        clean.msg, clean.args = self._redact(record.getMessage()), None
        if record.exc_info and not clean.exc_text:
            clean.exc_text = self.inner.formatException(record.exc_info)
        clean.exc_info = None
        if clean.exc_text:
            clean.exc_text = self._redact(clean.exc_text)
        return self._redact(self.inner.format(clean))

    def _redact(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text


def formatter(fmt: LogFormat) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            timestamp="time",
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=_NOT_FIELDS,
        )
    return OneLineFormatter(TEXT_FORMAT)


def configure_logging(level: str, fmt: LogFormat = "text", secrets: Iterable[str] = ()) -> None:
    """The root logger writes to stderr in `fmt`, secrets redacted; uvicorn's URLs redacted too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(formatter(fmt), secrets))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    redact_access_log()
