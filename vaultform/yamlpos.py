"""Load YAML while remembering where every value was written.

Error messages must name the file, line and column of the offending field, so
the loader keeps a side table from a value's path (a tuple of keys and list
indexes) to its location, instead of wrapping every value in a custom type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

import yaml

from vaultform.errors import Location, SpecError

Path = Tuple[Any, ...]


@dataclass
class LocatedDocument:
    data: Any
    file: str
    positions: Dict[Path, Location] = field(default_factory=dict)
    key_positions: Dict[Path, Location] = field(default_factory=dict)

    def location(self, path: Path) -> Location:
        """The location of the value at path, or of its nearest ancestor."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), Location(self.file, 1, 1))

    def key_location(self, path: Path) -> Location:
        """Where the key that names path was written (falls back to the value)."""
        return self.key_positions.get(tuple(path)) or self.location(path)


# libyaml's composer where it is built in (about 10x the pure-Python one);
# its nodes carry the same line and column marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _mark(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def load_located(text: str, file: str) -> LocatedDocument:
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        started = exc.context_mark
        if exc.problem and exc.context and started is not None and (started.line, started.column) != (
                mark.line, mark.column):
            # "end of stream" at the last line says little; where the unclosed
            # quote or bracket began says what to fix.
            message += f" ({exc.context} started at line {started.line + 1}, column {started.column + 1})"
        raise SpecError(message, location=loc) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", location=Location(file, 1, 1)) from None
    doc = LocatedDocument(data=None, file=file)
    if root is None:
        return doc
    constructor = yaml.SafeLoader("")  # only its scalar resolution is used

    def build(node: yaml.Node, path: Path) -> Any:
        doc.positions[path] = _mark(file, node)
        if isinstance(node, yaml.MappingNode):
            constructor.flatten_mapping(node)
            result: Dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, bool, float)) or isinstance(key, bool):
                    raise SpecError("mapping keys must be plain strings", location=_mark(file, key_node))
                key = str(key) if not isinstance(key, str) else key
                if key in result:
                    raise SpecError(f"duplicate key {key!r}", location=_mark(file, key_node))
                doc.key_positions[path + (key,)] = _mark(file, key_node)
                result[key] = build(value_node, path + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [build(item, path + (i,)) for i, item in enumerate(node.value)]
        return constructor.construct_object(node, deep=True)

    try:
        doc.data = build(root, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        raise SpecError(f"invalid YAML: {exc.problem}", location=loc) from None
    return doc
