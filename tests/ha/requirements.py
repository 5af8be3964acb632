"""Print the pip requirements of the Home Assistant integrations the tests load, with their
dependencies: what Home Assistant would otherwise pip-install at run time (it runs with --skip-pip).

Run by ./dev with Home Assistant's own Python: python tests/ha/requirements.py mqtt automation ..."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import homeassistant.components as components

COMPONENTS = Path(components.__path__[0])


def requirements(domains: list[str]) -> list[str]:
    seen: set[str] = set()
    found: list[str] = []
    todo = list(domains)
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        manifest = COMPONENTS / domain / "manifest.json"
        if not manifest.exists():
            continue
        data = json.loads(manifest.read_text())
        found += [r for r in data.get("requirements", []) if r not in found]
        todo += data.get("dependencies", [])  # after_dependencies load only if configured too
    return found


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
