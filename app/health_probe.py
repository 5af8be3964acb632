"""`arcroom health`: does the service on this machine answer /api/health, and is it well? (Docker's HEALTHCHECK.)"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request

# A service listening on every address is asked on loopback.
_ANY = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def health_url(host: str, port: int) -> str:
    host = _ANY.get(host, host)
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"http://{host}:{port}/api/health"


def probe(host: str, port: int, timeout_s: float = 4.0) -> tuple[bool, str]:
    """(answered with 200, the body or the error). A "degraded" service still answers 200: restarting
    it would not bring a broker back, and the body says what is wrong (see `degraded_because`)."""
    # No proxy: an HTTP(S)_PROXY in the environment must not send a local probe elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = health_url(host, port)
    try:
        with opener.open(url, timeout=timeout_s) as response:
            return response.status == 200, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return False, f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return False, f"{url}: {reason}"


def degraded_because(body: str) -> list[str]:
    """The problems a health answer lists ([] when it says "ok")."""
    try:
        answer = json.loads(body)
    except ValueError:
        return [f"not a health answer: {body[:80]!r}"]
    if not isinstance(answer, dict) or answer.get("status") == "ok":
        return []
    problems = answer.get("problems")
    return [str(p) for p in problems] if isinstance(problems, list) and problems else [str(answer.get("status"))]
