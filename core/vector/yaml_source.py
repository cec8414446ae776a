"""YAML that remembers where things are: line numbers for every key and item.

Template and migration files are read with :func:`read_yaml` so that every validation error
can name the file, the line and the key path an operator has to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from migctl.core.config import PROJECT_ROOT, yaml_expanded_size
from migctl.core.errors import UsageError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Parts = tuple[str | int, ...]


class TemplateError(UsageError):
    """A template or inline schema cannot be used; the message names file, line and key."""


class _Map(dict):
    """A YAML mapping with the 1-based line of itself (``line``) and of each key."""

    line: int | None = None
    key_lines: dict[Any, int]


class _Seq(list):
    """A YAML sequence with the 1-based line of itself and of each item."""

    line: int | None = None
    item_lines: list[int]


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe loader whose mappings and sequences remember lines and refuse duplicate keys."""


def _construct_map(loader: Any, node: yaml.MappingNode) -> Any:
    data = _Map()
    data.line, data.key_lines = node.start_mark.line + 1, {}
    yield data
    own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)  # `<<: *anchor` entries come first and may be overridden
    merged, seen = len(node.value) - own, set()
    for i, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = i >= merged and key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        if i >= merged:
            seen.add(key)
        data[key] = loader.construct_object(value_node, deep=False)
        data.key_lines[key] = key_node.start_mark.line + 1


def _construct_seq(loader: Any, node: yaml.SequenceNode) -> Any:
    data = _Seq()
    data.line, data.item_lines = node.start_mark.line + 1, [n.start_mark.line + 1 for n in node.value]
    yield data
    data.extend(loader.construct_sequence(node))


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def display_path(path: Path) -> str:
    """The path as messages show it: relative to the project when inside it."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def read_yaml(path: Path, *, file: str | None = None) -> Any:
    """Parse a YAML file into dicts and lists that remember their line numbers.

    Migration files should be read with this too, so that :func:`parse_collection` can put
    line numbers in its messages. ``file`` is the name messages use (default: :func:`display_path`).
    """
    file = file or display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"{file}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        yaml_expanded_size(node, file)  # an alias bomb is refused before it is expanded
        return loader.construct_document(node)
    except UsageError as exc:
        raise TemplateError(str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise TemplateError(f"{file}{where}: {problem}") from exc
    finally:
        loader.dispose()


def _line(data: Any, *parts: str | int) -> int | None:
    """The line of the deepest part of ``parts`` found in ``data`` (None without line info)."""
    line, node = getattr(data, "line", None), data
    for part in parts:
        if isinstance(node, _Map) and part in node.key_lines:
            line, node = node.key_lines[part], node[part]
        elif isinstance(node, _Seq) and isinstance(part, int) and 0 <= part < len(node):
            line, node = node.item_lines[part], node[part]
        else:
            break
    return line


def _path(where: str, *parts: str | int) -> str:
    for part in parts:
        if isinstance(part, int):
            where += f"[{part}]"
        elif isinstance(part, str) and IDENTIFIER.fullmatch(part):
            where += f".{part}" if where else part
        else:
            where += f"[{part!r}]"
    return where


@dataclass(frozen=True, eq=False)
class Origin:
    """Where a spec came from, so later checks (a store's limits) still name file, key and line."""

    file: str
    where: str
    data: Any = None  # the mapping key paths start from; has line numbers when read by read_yaml

    def error(self, *parts: str | int, message: str, line_of: Parts | None = None) -> TemplateError:
        line = _line(self.data, *(parts if line_of is None else line_of))
        head = f"{self.file} line {line}" if line else self.file
        return TemplateError(": ".join(x for x in (head, _path(self.where, *parts), message) if x))
