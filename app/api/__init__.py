"""HTTP adapter: the FastAPI application (`app.api.app.create_app`), its auth and its routes."""
