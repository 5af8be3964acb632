"""The house's layering, checked from the source: no import cycle in app/, and no module imports
one in a layer above its own (docs/architecture.md's Layout draws the same layers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"

# Bottom to top. A module may import from its own layer and the layers below; the first prefix
# that matches a module names its layer.
LAYERS: list[tuple[str, list[str]]] = [
    ("the package and pure domain", ["app", "app.domain"]),
    (
        "leaves: counters, logs, settings, the store, files",
        [
            "app.counters",
            "app.logs",
            "app.pubsub",
            "app.supervisor",
            "app.settings",
            "app.config_files",
            "app.catalog",
            "app.store",
            "app.store_postgres",
            "app.stores",
            "app.db_copy",
            "app.schema",
            "app.migrations",
            "app.service_lock",
            "app.systemd",
            "app.report_pdf",
            "app.retention",
            "app.backup",
            "app.backup_postgres",
            "app.heap",
            "app.leadership",
        ],
    ),
    (
        "device adapters: MQTT link and broker, lights, audio, music, simulators",
        [
            "app.mqtt.link",
            "app.mqtt.broker",
            "app.mqtt.topics",
            "app.mqtt",
            "app.lighting",
            "app.audio",
            "app.music",
            "app.simulators",
        ],
    ),
    # The director follows a session with music, so it sits with the engine, above the decks.
    (
        "the session engine, the music director, the panic answer",
        ["app.engine", "app.room_session", "app.music.director", "app.panic"],
    ),
    ("the room", ["app.room"]),
    ("the room's view", ["app.views"]),
    ("the rooms over MQTT", ["app.mqtt.bridge", "app.mqtt.commands", "app.mqtt.discovery", "app.mqtt.summary"]),
    ("the runtime", ["app.runtime", "app.standby", "app.standby_views"]),
    ("the HTTP API and the command line", ["app.api", "app.cli", "app.checks", "app.health_probe", "app.__main__"]),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in APP.rglob("*.py")}


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer): the longest prefix wins
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    assert best is not None, f"{module} is in no layer: add it to LAYERS (and docs/architecture.md's Layout)"
    return best[1]


def imports(module: str) -> set[str]:
    """Every app module `module` imports, at its top or inside a function (both are dependencies)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        found |= {name for name in names if name in MODULES and name != module}
    return found


GRAPH = {module: imports(module) for module in MODULES}


def test_no_import_cycle_in_app() -> None:
    # Depth-first search with colours; a grey node met again closes a cycle.
    colour: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        colour[module] = "grey"
        path.append(module)
        for dep in sorted(GRAPH[module]):
            if colour.get(dep) == "grey":
                return [*path[path.index(dep) :], dep]
            if dep not in colour and (cycle := visit(dep)):
                return cycle
        colour[module] = "black"
        path.pop()
        return None

    for module in sorted(GRAPH):
        if module not in colour and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_no_module_imports_one_above_its_layer() -> None:
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})"
        for module, deps in sorted(GRAPH.items())
        for dep in sorted(deps)
        if layer_of(dep) > layer_of(module)
    ]
    assert upward == []


def test_the_domain_does_no_io() -> None:
    adapters = ("sqlite3", "aiomqtt", "paho", "vlc", "fastapi", "httpx", "socket", "subprocess")
    found = []
    for module, path in MODULES.items():
        if layer_of(module) != 0:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{module} imports {n}" for n in names if n.split(".")[0] in adapters]
    assert found == []
