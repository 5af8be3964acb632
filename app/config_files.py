"""Read hand-written YAML files into validated models, naming file, line and field on error."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(Exception):
    """A configuration or data file that cannot be used; the message names file, line and field."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def load_yaml(path: Path) -> Any:
    """Parse a YAML file keeping line numbers (ruamel's round-trip nodes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(path, [f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigFileError(path, [f"{path}{line}: invalid YAML: {exc.problem or exc.context}"]) from exc
    except YAMLError as exc:
        raise ConfigFileError(path, [f"{path}: invalid YAML: {exc}"]) from exc


def validate_document(path: Path, data: Any, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    if data is None:
        raise ConfigFileError(path, [f"{path}:1: the file is empty"])
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = error["loc"]
            line = line_of(data, loc)
            field = _dotted(loc) or "(top level)"
            problems.append(f"{path}:{line}: {field}: {error['msg']}")
        raise ConfigFileError(path, problems) from exc


def line_of(data: Any, loc: Sequence[int | str]) -> int:
    """1-based line of the deepest node along `loc` that exists in the parsed YAML."""
    line = _own_line(data)
    node = data
    for step in loc:
        if isinstance(node, CommentedMap) and step in node:
            line = node.lc.key(step)[0] + 1
            node = node[step]
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and 0 <= step < len(node):
            line = node.lc.item(step)[0] + 1
            node = node[step]
        else:
            break
    return line


def _own_line(node: Any) -> int:
    lc = getattr(node, "lc", None)
    return (lc.line + 1) if lc is not None and lc.line is not None else 1


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for step in loc:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += ("." if out else "") + str(step)
    return out
