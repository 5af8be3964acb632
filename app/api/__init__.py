"""HTTP adapter: the FastAPI application, its auth and its routes."""

from app.api.app import create_app

__all__ = ["create_app"]
