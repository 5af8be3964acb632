"""The API documents itself: tags, what each operation does, its errors, examples, and units."""

from __future__ import annotations

from typing import Any

from app.api.app import create_app
from app.settings import Settings
from tests.conftest import catalog_for

MUTATING = {"post", "put", "delete", "patch"}


def document(settings: Settings) -> dict[str, Any]:
    return create_app(settings, catalog=catalog_for(settings)).openapi()


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for option in schema.get("anyOf", []):
        if "$ref" in option:
            return resolve(doc, option)
    return schema


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def test_every_operation_has_a_tag_and_says_what_it_does(settings: Settings) -> None:
    doc = document(settings)
    known = {tag["name"] for tag in doc["tags"]}
    for method, path, op in operations(doc):
        assert op.get("tags") and set(op["tags"]) <= known, (method, path)
        assert op.get("description"), (method, path, "no description")
        generated = op["operationId"].split("_api_")[0].replace("_", " ").title()
        assert op.get("summary") and op["summary"] != generated, (method, path, "the summary is the function's name")


def test_room_operations_declare_their_404_and_every_command_its_409(settings: Settings) -> None:
    for method, path, op in operations(document(settings)):
        if "{room}" in path or "{session_id}" in path or "{preset_id}" in path:
            assert "404" in op["responses"], (method, path)
        if method in MUTATING and path.startswith("/api/rooms/"):
            assert "409" in op["responses"], (method, path)


def test_every_body_has_an_example(settings: Settings) -> None:
    doc = document(settings)
    for method, path, op in operations(doc):
        if "requestBody" in op:
            schema = resolve(doc, op["requestBody"]["content"]["application/json"]["schema"])
            assert schema.get("examples"), (method, path)


def test_the_state_says_what_each_field_is_and_its_unit(settings: Settings) -> None:
    doc = document(settings)
    for name in ("SessionState", "RoomView", "MusicStatus", "PanicStatus"):
        properties = doc["components"]["schemas"][name]["properties"]
        missing = [field for field, spec in properties.items() if not spec.get("description")]
        assert not missing, (name, missing)
    session = doc["components"]["schemas"]["SessionState"]["properties"]
    assert "epoch seconds" in session["started_at"]["description"].lower()
    assert "seconds" in session["time_in_phase_s"]["description"].lower()
