"""Load YAML while remembering where every value was written.

Error messages must name the file, line and column of the offending field, so
the loader keeps a side table from a value's path (a tuple of keys and list
indexes) to its location, instead of wrapping every value in a custom type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

import yaml

from vaultform.errors import Location, SpecError
from vaultform.jsonvalues import value_problem

Path = Tuple[Any, ...]

# A spec is a handful of levels deep and a few thousand values big. Limits
# far above that refuse what only an attacker writes: a 400-byte "billion
# laughs" alias bomb expands to millions of values (it once took 40 s and
# 2 GB), a self-referencing alias never ends, and ~500 nested brackets
# overflowed the recursive YAML composer.
MAX_DEPTH = 64
# Aliases may add at most this many values, plus ALIAS_GROWTH per value as
# written: a spec sharing defaults through anchors grows a few times, a bomb
# grows exponentially. A document without aliases is as large as its file,
# so a 100,000-object spec (bench/scale.py --large) is never refused for size.
MAX_VALUES = 200_000
ALIAS_GROWTH = 10


def _check_depth(text: str, file: str) -> Tuple[bool, int]:
    """Refuse nesting deeper than MAX_DEPTH before any composer sees it. The
    event stream is flat (the parser is a state machine); composers recurse
    per level, the pure-Python one into a RecursionError and libyaml's on
    the C stack, so depth is counted here, from the events.

    Returns whether the document has aliases, and how many values it holds
    as written: without aliases it is a tree, and its expanded size is that."""
    depth = nodes = 0
    aliases = False
    for event in yaml.parse(text, Loader=_LOADER):
        kind = type(event)
        if kind is yaml.ScalarEvent:
            nodes += 1
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            nodes += 1
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError(f"invalid YAML: nested deeper than {MAX_DEPTH} levels",
                                location=Location(file, event.start_mark.line + 1, event.start_mark.column + 1))
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            depth -= 1
        elif kind is yaml.AliasEvent:
            aliases = True
    return aliases, nodes


def _children(node: yaml.Node):
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, yaml.SequenceNode):
        yield from node.value


def _expanded_size(root: yaml.Node, file: str, limit: int) -> None:
    """Refuse a document whose aliases refer to themselves, or which, with every
    alias expanded, holds more than `limit` values or nests deeper than
    MAX_DEPTH. Counted on the composed graph (each distinct node once), so
    the check itself costs no more than the file's size."""
    size: Dict[int, int] = {}
    height: Dict[int, int] = {}
    on_path: set = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            kids = list(_children(node))
            size[key] = min(1 + sum(size[id(k)] for k in kids), limit + 1)
            height[key] = 1 + max((height[id(k)] for k in kids), default=0)
            if size[key] > limit:
                raise SpecError(f"invalid YAML: more than {limit} values once aliases are expanded "
                                "(an alias bomb?)", location=_mark(file, node))
            if height[key] > MAX_DEPTH:
                raise SpecError(f"invalid YAML: nested deeper than {MAX_DEPTH} levels once aliases are expanded",
                                location=_mark(file, node))
            continue
        if key in size:
            continue
        if key in on_path:
            raise SpecError("invalid YAML: an alias refers to the value that contains it (a recursive alias)",
                            location=_mark(file, node))
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise SpecError("invalid YAML: an alias refers to the value that contains it (a recursive alias)",
                                location=_mark(file, child))
            if id(child) not in size:
                stack.append((child, False))


@dataclass
class LocatedDocument:
    data: Any
    file: str
    positions: Dict[Path, Location] = field(default_factory=dict)
    key_positions: Dict[Path, Location] = field(default_factory=dict)
    # (path, why) of each value JSON cannot carry (a date, .nan, !!binary), found while loading
    unsendable: List[Tuple[Path, str]] = field(default_factory=list)
    # path -> the text of each integer or boolean written otherwise than it
    # is sent (YAML 1.1 reads 0600 as 384, 0x10 as 16, 1_000 as 1000, and
    # yes, no, on, off as true and false)
    written: Dict[Path, str] = field(default_factory=dict)

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


_STR = "tag:yaml.org,2002:str"
_MERGE_TAGS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})


def load_located(text: str, file: str) -> LocatedDocument:
    """The document's data, every value's and key's location, and (in
    `unsendable`) the values JSON cannot carry (jsonvalues.value_problem)."""
    try:
        aliases, nodes = _check_depth(text, file)
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
    except yaml.reader.ReaderError as exc:
        # Its text names "<unicode string>" and a character offset; say where in the file instead.
        before = text[:exc.position]
        loc = Location(file, before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1)
        raise SpecError(f"invalid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}",
                        location=loc) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", location=Location(file, 1, 1)) from None
    doc = LocatedDocument(data=None, file=file)
    if root is None:
        return doc
    if aliases:
        # Only aliases make the composed graph more than the tree it was
        # written as: without them it holds `nodes` values, `depth` deep.
        _expanded_size(root, file, MAX_VALUES + ALIAS_GROWTH * nodes)
    constructor = yaml.SafeLoader("")  # only its scalar resolution is used
    construct = constructor.construct_object
    positions, key_positions, unsendable, written = doc.positions, doc.key_positions, doc.unsendable, doc.written
    ScalarNode, MappingNode = yaml.ScalarNode, yaml.MappingNode

    # Per value: a few attribute reads and one Location, and the scalar's
    # own text when libyaml resolved it to a string (most are): the
    # constructor's machinery only for other scalars.
    def build(node: yaml.Node, path: Path) -> Any:
        mark = node.start_mark
        positions[path] = Location(file, mark.line + 1, mark.column + 1)
        kind = type(node)
        if kind is ScalarNode:
            if node.tag == _STR:
                return node.value
            value = construct(node, deep=True)
            if (type(value) is int and node.value != str(value)) or \
                    (type(value) is bool and node.value.lower() not in ("true", "false")):
                written[path] = node.value
            problem = value_problem(value)
            if problem:
                unsendable.append((path, problem))
            return value
        if kind is MappingNode:
            if any(key.tag in _MERGE_TAGS for key, _ in node.value):
                constructor.flatten_mapping(node)  # `<<: *base` merges (and `=` keys): all it changes
            result: Dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if type(key_node) is not ScalarNode:
                    raise SpecError("mapping keys must be plain strings", location=_mark(file, key_node))
                key = key_node.value if key_node.tag == _STR else construct(key_node, deep=True)
                if not isinstance(key, (str, int, bool, float)) or isinstance(key, bool):
                    raise SpecError("mapping keys must be plain strings", location=_mark(file, key_node))
                # A key is a name, kept as written: YAML 1.1 reads `010:` as 8
                # and `1.10:` as 1.1, which would name the key "8" or "1.1".
                key = key_node.value if not isinstance(key, str) else key
                if key in result:
                    raise SpecError(f"duplicate key {key!r}", location=_mark(file, key_node))
                key_path = path + (key,)
                key_mark = key_node.start_mark
                key_positions[key_path] = Location(file, key_mark.line + 1, key_mark.column + 1)
                result[key] = build(value_node, key_path)
            return result
        return [build(item, path + (i,)) for i, item in enumerate(node.value)]

    try:
        doc.data = build(root, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        raise SpecError(f"invalid YAML: {exc.problem}", location=loc) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise SpecError(f"invalid YAML: a value cannot be read ({exc})", location=Location(file, 1, 1)) from None
    return doc
