"""A mistake in a setting stops the service with one line per mistake, naming the variable and the
part of it, never its value (it may be a token), and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main

SECRET = "a-real-token-0123456789"
# A list whose closing bracket was lost in copying: the parser gives up at the end of the text.
CUT_SHORT = f'[{{"name": "tablet", "role": "therapist", "token": "{SECRET}"}}'


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"ARCROOM_TOKENS": CUT_SHORT},
            f"arcroom: invalid setting ARCROOM_TOKENS: not valid JSON (Expecting ',' delimiter at character {len(CUT_SHORT) + 1})",
        ),
        (
            {"ARCROOM_TOKENS": "tablet=" + SECRET},
            "arcroom: invalid setting ARCROOM_TOKENS: not valid JSON (Expecting value at character 1)",
        ),
        (
            {"ARCROOM_TOKENS": '{"name": "tablet"}'},
            "arcroom: invalid setting ARCROOM_TOKENS: Input should be a valid list",
        ),
        (
            {"ARCROOM_TOKENS": f'[{{"name": "tablet", "role": "admin", "token": "{SECRET}"}}]'},
            "arcroom: invalid setting ARCROOM_TOKENS[0].role: Input should be 'therapist', 'observer' or 'device'",
        ),
        (
            {"ARCROOM_TOKENS": '[{"name": "tablet", "role": "therapist", "token": "short"}]'},
            "arcroom: invalid setting ARCROOM_TOKENS[0].token: tokens must be at least 16 characters "
            "(make one with: arcroom token new --name NAME --role ROLE)",
        ),
        (
            {"ARCROOM_TOKENS": '[{"name": "tablet", "role": "therapist", "token": "…32 random characters…"}]'},
            "arcroom: invalid setting ARCROOM_TOKENS[0].token: a token may hold only printable ASCII characters, "
            "without spaces (make one with: arcroom token new --name NAME --role ROLE)",
        ),
        (
            {"ARCROOM_TOKENS": '[{"name": "tablet", "role": "therapist", "token": "CHANGE-ME-before-use-1"}]'},
            "arcroom: invalid setting ARCROOM_TOKENS[0].token: this token looks like a placeholder (it has 'change' "
            "in it), not one made for the clinic (make one with: arcroom token new --name NAME --role ROLE)",
        ),
        (
            {"ARCROOM_TOKENS": '[{"name": "tablet", "role": "therapist", "token": "abababab12121212"}]'},
            "arcroom: invalid setting ARCROOM_TOKENS[0].token: this token has fewer than 8 different characters: "
            "easy to guess (make one with: arcroom token new --name NAME --role ROLE)",
        ),
        (
            {
                "ARCROOM_TOKENS": f'[{{"name": "a", "role": "therapist", "token": "{SECRET}"}},'
                f' {{"name": "b", "role": "observer", "token": "{SECRET}"}}]'
            },
            "arcroom: invalid setting ARCROOM_TOKENS: tokens 'a' and 'b' are the same token; give each its own",
        ),
        (
            {"ARCROOM_PORT": "eighty"},
            "arcroom: invalid setting ARCROOM_PORT: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            {"ARCROOM_LOG_FORMAT": "xml"},
            "arcroom: invalid setting ARCROOM_LOG_FORMAT: Input should be 'text' or 'json'",
        ),
        (
            {"ARCROOM_ALLOWED_HOSTS": "arcroom.example:8000"},
            "arcroom: invalid setting ARCROOM_ALLOWED_HOSTS[0]: 'arcroom.example:8000' is not a host name "
            "(give names without a port, e.g. arcroom.clinic.example)",
        ),
        (
            {"ARCROOM_ALLOWED_ORIGINS": "portal.example"},
            "arcroom: invalid setting ARCROOM_ALLOWED_ORIGINS[0]: 'portal.example' is not an origin like "
            "https://arcroom.clinic.example[:port]",
        ),
        (
            {"ARCROOM_MQTT_URL": "tcp://broker"},
            "arcroom: invalid setting ARCROOM_MQTT_URL: must look like mqtt://host[:port] or mqtts://host[:port]",
        ),
        (
            {"ARCROOM_TIMEZONE": "Europe/Berlln"},
            "arcroom: invalid setting ARCROOM_TIMEZONE: 'Europe/Berlln' is not an IANA time zone name "
            "(e.g. Europe/Berlin, America/New_York, UTC)",
        ),
        (
            {"ARCROOM_DATABASE": "mysql://arcroom@db.clinic/arcroom"},
            "arcroom: invalid setting ARCROOM_DATABASE: is a mysql:// URL: give a SQLite file's path "
            "(/var/lib/arcroom/arcroom.db) or a PostgreSQL URL (postgresql://arcroom@db.clinic.lan/arcroom)",
        ),
    ],
    ids=[
        "tokens-cut-short",
        "tokens-not-json",
        "tokens-not-a-list",
        "unknown-role",
        "short-token",
        "placeholder-from-the-docs",
        "placeholder-word",
        "few-characters",
        "same-token-twice",
        "port",
        "log-format",
        "host-with-port",
        "origin-without-scheme",
        "mqtt-scheme",
        "timezone",
        "database-url",
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    env: dict[str, str], line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["presets"]) == 2
    out = capsys.readouterr()
    assert out.err.splitlines() == [line]
    assert SECRET not in out.err + out.out


def test_serve_with_malformed_tokens_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCROOM_")}
    env["ARCROOM_TOKENS"] = CUT_SHORT
    done = subprocess.run(
        [sys.executable, "-m", "app", "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"arcroom: invalid setting ARCROOM_TOKENS: not valid JSON (Expecting ',' delimiter at character {len(CUT_SHORT) + 1})"
    ]
    assert SECRET not in done.stderr + done.stdout
