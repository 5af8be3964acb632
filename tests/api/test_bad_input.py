"""Bad input cannot hurt: text UTF-8 cannot carry, huge bodies and odd values get a small, precise
4xx (never a 500, never the input echoed back whole), and nothing is recorded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.api.app import MAX_BODY_BYTES
from app.api.errors import INPUT_EXCERPT_CHARS, excerpt, safe_text, validation_detail
from app.api.guard import too_large
from tests.conftest import Service

ROOM = "/api/rooms/one"
SESSION = f"{ROOM}/session"
JSON = {"Content-Type": "application/json"}
SMALL_ERROR_BYTES = 2048  # what any refusal below may weigh at most


async def start(c: httpx.AsyncClient) -> None:
    r = await c.post(SESSION, json={"preset": "psilocybin", "client_label": "P-1"})
    assert r.status_code == 201, r.text


async def events(c: httpx.AsyncClient) -> int:
    return int((await c.get(f"{ROOM}/state")).json()["session"]["event_count"])


def only_error(r: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert len(r.content) <= SMALL_ERROR_BYTES, len(r.content)
    detail = r.json()["detail"]
    assert isinstance(detail, list) and len(detail) == 1, detail
    return dict(detail[0])


# --- text that UTF-8 cannot carry ---------------------------------------------------------------


@pytest.mark.parametrize("text", [r'"\ud800"', r'"calm \udfff then"', r'"\udc00\ud800"'])
async def test_a_lone_surrogate_in_a_note_is_a_422_that_shows_it_escaped(service: Service, text: str) -> None:
    c = service.client
    await start(c)
    before = await events(c)
    r = await c.post(f"{SESSION}/note", content=f'{{"text": {text}}}'.encode(), headers=JSON)
    error = only_error(r)
    assert error["loc"] == ["body", "text"]
    assert error["type"] == "string_unicode"
    assert error["msg"] == "Input should be a valid string, unable to parse raw data as a unicode string"
    # What was wrong, written so that it can be sent: the surrogate as an escape.
    assert json.loads(text).encode("utf-8", "backslashreplace").decode() == error["input"]
    assert await events(c) == before


async def test_a_lone_surrogate_in_the_client_label_is_a_422_and_starts_nothing(service: Service) -> None:
    c = service.client
    r = await c.post(SESSION, content=rb'{"preset": "psilocybin", "client_label": "P\ud83d"}', headers=JSON)
    error = only_error(r)
    assert error["loc"] == ["body", "client_label"]
    assert error["input"] == "P\\ud83d"
    assert (await c.get(f"{ROOM}/state")).json()["session"] is None


async def test_an_unknown_field_named_with_a_surrogate_is_a_422(service: Service) -> None:
    c = service.client
    await start(c)
    r = await c.post(f"{SESSION}/note", content=rb'{"text": "ok", "\udbff": 1}', headers=JSON)
    error = only_error(r)
    # pydantic refuses the key itself, before it could be called an unknown field.
    assert error["loc"] == ["body"]
    assert error["type"] == "string_unicode"
    assert error["input"] == "\\udbff"


async def test_a_valid_surrogate_pair_is_an_ordinary_character(service: Service) -> None:
    c = service.client
    await start(c)
    r = await c.post(f"{SESSION}/note", content=rb'{"text": "calm \ud83d\ude00"}', headers=JSON)
    assert r.status_code == 200, r.text
    assert await events(c) == 2


# --- large bodies: bounded before they are parsed ------------------------------------------------


async def test_a_note_too_long_for_the_field_gets_a_small_422_with_an_excerpt(service: Service) -> None:
    c = service.client
    await start(c)
    text = "x" * (MAX_BODY_BYTES - 100)  # under the body limit, far over the note's 4000 characters
    r = await c.post(f"{SESSION}/note", json={"text": text})
    error = only_error(r)
    assert error["msg"] == "String should have at most 4000 characters"
    assert error["input"] == "x" * INPUT_EXCERPT_CHARS + "…"
    assert error["ctx"] == {"max_length": 4000}
    assert await events(c) == 1


@pytest.mark.parametrize("size_bytes", [MAX_BODY_BYTES + 1, 10 * 1024 * 1024])
async def test_a_body_over_the_limit_is_a_small_413_and_records_nothing(service: Service, size_bytes: int) -> None:
    c = service.client
    await start(c)
    body = json.dumps({"text": "n" * size_bytes}).encode()
    r = await c.post(f"{SESSION}/note", content=body, headers=JSON)
    assert r.status_code == 413, r.text[:300]
    assert len(r.content) <= SMALL_ERROR_BYTES
    assert r.json() == {"detail": too_large(MAX_BODY_BYTES)}
    assert await events(c) == 1


async def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(service: Service) -> None:
    c = service.client
    await start(c)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"text": "'
        for _ in range(160):  # 10 MB if it were all read
            sent += 1
            yield b"n" * 65536
        yield b'"}'

    r = await c.post(f"{SESSION}/note", content=chunks(), headers=JSON)
    assert r.status_code == 413, r.text[:300]
    assert r.json() == {"detail": "the request body is larger than 65536 bytes, the most this service takes"}
    assert sent < 160  # it stopped reading once past the limit
    assert await events(c) == 1


async def test_ten_megabytes_to_a_command_without_a_body_is_refused_over_real_http(live_service: Service) -> None:
    c = live_service.client
    await start(c)
    r = await c.post(f"{SESSION}/advance", content=b"x" * (10 * 1024 * 1024), headers={"Content-Type": "text/plain"})
    assert r.status_code == 413, r.text[:300]
    assert len(r.content) <= SMALL_ERROR_BYTES
    r = await c.get(f"{ROOM}/state")
    assert r.json()["session"]["phase"] == "arrival"


async def test_a_path_with_a_huge_room_name_gets_a_bounded_404(service: Service) -> None:
    r = await service.client.get(f"/api/rooms/{'r' * 8000}/state")
    assert r.status_code == 404
    assert len(r.content) <= SMALL_ERROR_BYTES
    assert r.json()["detail"].startswith("no room 'rrrr")


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deeper than any JSON parser recurses
        b'{"text": ' + b"9" * 5000 + b"}",  # more digits than Python will parse
        b'{"text": "\xff\xfe"}',  # not UTF-8 at all
    ],
    ids=["deep", "5000-digits", "not-utf8"],
)
async def test_bodies_the_parser_refuses_are_4xx_not_500(service: Service, raw: bytes) -> None:
    c = service.client
    await start(c)
    r = await c.post(f"{SESSION}/note", content=raw, headers=JSON)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert len(r.content) <= SMALL_ERROR_BYTES
    assert await events(c) == 1


# --- the excerpt itself --------------------------------------------------------------------------


def test_excerpts_are_short_and_encodable() -> None:
    assert safe_text("\ud800abc", 80) == "\\ud800abc"
    assert safe_text("é" * 100, 3) == "ééé…"
    assert excerpt(float("nan")) == "nan"
    assert excerpt(10**4000) == f"<an integer of {(10**4000).bit_length()} bits>"
    assert excerpt({"a": 1, "b": 2}) == "<an object with 2 field(s): a, b>"
    assert excerpt(list(range(9))) == "<an array of 9 item(s)>"
    assert excerpt(b"\xff" * 1000) == "\ufffd" * INPUT_EXCERPT_CHARS + "…"


def test_a_flood_of_field_errors_is_cut_to_twenty() -> None:
    errors = [{"type": "missing", "loc": ("body", i), "msg": "Field required", "input": {}} for i in range(500)]
    detail = validation_detail(errors)
    assert len(detail) == 21
    assert detail[-1] == {"type": "too_many_errors", "loc": [], "msg": "and 480 more error(s)"}
    json.dumps(detail, ensure_ascii=False).encode("utf-8")  # sendable as it is
