"""The service's own log, as `arcroom serve` writes it: one line per record (text or JSON), and no
token in it, whether sent as the stream's ?access_token=, as a ticket, or put on another route or
into a path by mistake."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest

from app.logs import OneLineFormatter, RedactingFormatter, formatter, redact_query
from tests.support import CLIENT_LIMITS, Mosquitto, free_port

THERAPIST = "therapist-secret-0123456789"
OBSERVER = "observer-secret-0123456789"
TOKENS = json.dumps(
    [
        {"name": "tablet-room-1", "role": "therapist", "token": THERAPIST},
        {"name": "nurse-station", "role": "observer", "token": OBSERVER},
    ]
)
TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: .*")
START_TIMEOUT_S = 30.0


@contextmanager
def arcroom_serve(
    tmp_path: Path, mosquitto: Mosquitto, demo_music: Path, log_format: str
) -> Iterator[tuple[int, Path]]:
    """The real command, in its own process; yields its port and the file its stderr goes to."""
    port = free_port()
    rooms = tmp_path / "rooms.yaml"
    rooms.write_text("rooms:\n  - id: one\n    name: Room one\n    audio: {output: dummy}\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ARCROOM_") and k != "NOTIFY_SOCKET"},
        "ARCROOM_TOKENS": TOKENS,
        "ARCROOM_PORT": str(port),
        "ARCROOM_DATA_DIR": str(tmp_path / "data"),
        "ARCROOM_ROOMS_FILE": str(rooms),
        "ARCROOM_MQTT_URL": mosquitto.url,
        "ARCROOM_MQTT_CLIENT_ID": f"arcroom-log-{port}",
        "ARCROOM_DEMO_MUSIC_DIR": str(demo_music),
        "ARCROOM_LOG_FORMAT": log_format,
    }
    log = tmp_path / "stderr.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"], cwd=tmp_path, env=env, stdout=err, stderr=err
        )
    try:
        yield port, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@asynccontextmanager
async def client_for(port: int) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, limits=CLIENT_LIMITS) as client:
        async with asyncio.timeout(START_TIMEOUT_S):
            while True:
                try:
                    if (await client.get("/api/health")).status_code in (200, 503):
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        yield client


async def first_event(client: httpx.AsyncClient, url: str) -> str:
    async with asyncio.timeout(10), client.stream("GET", url) as r:
        assert r.status_code == 200, await r.aread()
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                return line
    raise AssertionError("the stream closed")


async def exercise(client: httpx.AsyncClient) -> str:
    """Requests that carry tokens every way they can arrive; returns the ticket that was used."""
    assert await first_event(client, f"/api/rooms/one/stream?access_token={THERAPIST}") == "event: state"
    r = await client.post("/api/stream-tickets", headers={"Authorization": f"Bearer {OBSERVER}"})
    assert r.status_code == 200, r.text
    ticket = str(r.json()["ticket"])
    assert await first_event(client, f"/api/rooms/one/stream?ticket={ticket}") == "event: state"
    # Mistakes: a token where no route takes one, under another name, and in the path itself.
    assert (await client.get(f"/api/rooms?access_token={THERAPIST}")).status_code == 401
    assert (await client.get(f"/api/rooms/one/state?view=full&api%5Fkey={OBSERVER}")).status_code == 401
    assert (
        await client.get(f"/api/rooms/{THERAPIST}", headers={"Authorization": f"Bearer {OBSERVER}"})
    ).status_code == 404
    return ticket


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_no_token_reaches_the_log_and_every_record_is_one_line(
    tmp_path: Path, mosquitto: Mosquitto, demo_music: Path, log_format: str
) -> None:
    with arcroom_serve(tmp_path, mosquitto, demo_music, log_format) as (port, log):
        async with client_for(port) as client:
            ticket = await exercise(client)
    text = log.read_text()

    for secret in (THERAPIST, OBSERVER, ticket):
        assert secret not in text, f"a credential is in the log:\n{text}"

    lines = text.splitlines()
    if log_format == "json":
        records = [json.loads(line) for line in lines]  # every line is one whole record
        assert all({"time", "level", "logger", "message"} <= r.keys() for r in records), records[:3]
        assert not any("color_message" in r for r in records)
        messages = [r["message"] for r in records if r["logger"] == "uvicorn.access"]
    else:
        assert all(TEXT_LINE.fullmatch(line) for line in lines), [x for x in lines if not TEXT_LINE.fullmatch(x)]
        messages = [line.split("uvicorn.access: ", 1)[1] for line in lines if " uvicorn.access: " in line]

    requests = [m.split('"')[1] for m in messages]  # 'GET /path?query HTTP/1.1'
    assert "GET /api/rooms/one/stream?access_token=*** HTTP/1.1" in requests
    assert "GET /api/rooms/one/stream?ticket=*** HTTP/1.1" in requests
    assert "GET /api/rooms?access_token=*** HTTP/1.1" in requests
    assert "GET /api/rooms/one/state?view=full&api%5Fkey=*** HTTP/1.1" in requests
    assert "GET /api/rooms/*** HTTP/1.1" in requests  # the token pasted as a room id
    assert "POST /api/stream-tickets HTTP/1.1" in requests


# --- the parts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        ("/api/rooms", "/api/rooms"),
        ("/a?access_token=abc", "/a?access_token=***"),
        ("/a?x=1&Ticket=abc&y=2", "/a?x=1&Ticket=***&y=2"),
        ("/a?my%5Fsecret=abc&password=p&apikey=k", "/a?my%5Fsecret=***&password=***&apikey=***"),
        ("/a?format=csv&flag", "/a?format=csv&flag"),
    ],
)
def test_credential_like_query_parameters_are_redacted(url: str, logged: str) -> None:
    assert redact_query(url) == logged


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    return logging.LogRecord(
        "app.test", logging.ERROR, __file__, 1, message, args, (type(exc), exc, exc.__traceback__) if exc else None
    )


def test_a_traceback_is_written_on_the_same_line() -> None:
    try:
        raise RuntimeError("bad\nthing")
    except RuntimeError as exc:
        line = OneLineFormatter("%(levelname)s %(message)s").format(record("failed: %s", "x\ny", exc=exc))
    assert "\n" not in line
    assert line.startswith("ERROR failed: x | y | Traceback (most recent call last):")
    assert line.endswith("RuntimeError: bad | thing")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_known_secrets_are_redacted_wherever_they_appear(fmt: str) -> None:
    secret = 'pa"ss/word'  # as JSON writes it and as a URL does, too
    try:
        raise ValueError(f"refused {secret}")
    except ValueError as exc:
        out = RedactingFormatter(formatter(fmt), [secret, ""]).format(
            record("connect %s, %s, %s", secret, "pa%22ss%2Fword", json.dumps({"p": secret}), exc=exc)
        )
    assert "\n" not in out
    assert "ss/word" not in out and "ss%2Fword" not in out, out
    assert out.count("***") == 4, out
    assert "ValueError: refused ***" in (json.loads(out)["exc_info"] if fmt == "json" else out)
