"""The tablet dashboard: static files served by the service itself (no build step).

/            the room view (sign-in, session, panic)      /overview   every room at a glance
/manifest.webmanifest, /sw.js   installable web app; the service worker must live at the root
                                so that its scope covers both pages.
Everything else is under /static (mounted in app.py).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"

# The pages and the worker are small and must never be stale after an update.
_NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=_NO_CACHE)


@router.get("/overview")
async def overview() -> FileResponse:
    return FileResponse(STATIC / "overview.html", headers=_NO_CACHE)


@router.get("/manifest.webmanifest")
async def manifest() -> FileResponse:
    return FileResponse(STATIC / "manifest.webmanifest", media_type="application/manifest+json", headers=_NO_CACHE)


@router.get("/sw.js")
async def service_worker() -> FileResponse:
    return FileResponse(STATIC / "sw.js", media_type="text/javascript", headers=_NO_CACHE)


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    return FileResponse(STATIC / "icons" / "icon.svg", media_type="image/svg+xml")
