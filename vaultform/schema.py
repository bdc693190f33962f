"""Validate a spec against the published JSON Schema in schemas/.

Messages are built from the schema keyword, never from the offending value:
a value in the wrong place may be a secret.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Tuple

from vaultform.errors import SpecError
from vaultform.yamlpos import LocatedDocument

if TYPE_CHECKING:
    # Imported where an invalid spec is explained (validator()): a valid
    # spec never needs jsonschema, about 0.1 s of every command's start.
    import jsonschema
    from referencing import Resource

ROOT_SCHEMA = "vaultform.schema.json"
VALUE_SOURCE_KEYS = frozenset({"env", "default", "file", "generate"})


def _schema_text(name: str) -> str:
    return resources.files("vaultform.schemas").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _load(name: str) -> dict:
    return json.loads(_schema_text(name))


def definition(name: str, file: str = "common.schema.json") -> dict:
    """A shared definition of the published schema, for checks that must say the same."""
    return _load(file)["$defs"][name]


@lru_cache(maxsize=1)
def validator() -> jsonschema.protocols.Validator:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    # Fragments refer to each other by file name, as editors resolve them
    # next to vaultform.schema.json; the registry resolves them the same way.
    def resource(name: str) -> Resource:
        return Resource.from_contents(_load(name), default_specification=DRAFT202012)

    def retrieve(uri: str) -> Resource:
        return resource(uri.rsplit("/", 1)[-1])

    # Every fragment loaded and crawled once, up front: a registry that only
    # retrieves on demand resolves (and re-crawls) each $ref on every use,
    # which was most of the time spent validating a large spec.
    names = sorted(p.name for p in resources.files("vaultform.schemas").iterdir() if p.name.endswith(".schema.json"))
    registry = Registry(retrieve=retrieve).with_resources((name, resource(name)) for name in names).crawl()
    return jsonschema.Draft202012Validator(_load(ROOT_SCHEMA), registry=registry)


def _localised(node: Any, file: str, defs: Dict[Tuple[str, str], Tuple[str, Any]]) -> Any:
    """The schema in one document: every $ref (to another fragment or within
    one) points at an entry of the root's `definitions`, one per target, so
    the compiled validator has one function per shared definition (a value
    source is checked by one function, not by a copy of its `oneOf` at every
    place a value source may be). A $ref with sibling keywords becomes an
    allOf, as 2020-12 means it (draft 7, which the compiler reads, would
    ignore the siblings)."""
    if isinstance(node, list):
        return [_localised(item, file, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _localised(v, file, defs) for k, v in node.items() if k not in ("$ref", "$defs", "$schema", "$id")}
    ref = node.get("$ref")
    if ref is None:
        return out
    target_file, _, pointer = ref.partition("#")
    target_file = target_file or file
    key = (target_file, pointer)
    if key not in defs:
        name = f"d{len(defs)}"
        defs[key] = (name, None)  # taken before descending: a recursive $ref finds it
        target: Any = _load(target_file)
        for part in [p for p in pointer.split("/") if p]:
            target = target[part]
        defs[key] = (name, _localised(target, target_file, defs))
    local = {"$ref": f"#/definitions/{defs[key][0]}"}
    return {"allOf": [local], **out} if out else local


def _one_document() -> dict:
    defs: Dict[Tuple[str, str], Tuple[str, Any]] = {}
    schema = _localised(_load(ROOT_SCHEMA), ROOT_SCHEMA, defs)
    schema["definitions"] = {name: body for name, body in defs.values()}
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"  # its keywords are all draft 7's
    return schema


@lru_cache(maxsize=1)
def _compiled():
    """A validator compiled to Python (fastjsonschema): about 50x faster than
    jsonschema on a large spec, but it stops at the first error and words it
    its own way. So it only says "valid"; any invalid spec is validated again
    by jsonschema, which finds every error and is the one that explains."""
    from fastjsonschema.draft07 import CodeGeneratorDraft07
    from fastjsonschema.ref_resolver import RefResolver

    class YesNo(CodeGeneratorDraft07):
        """Code that only tells valid from invalid, which is all it is asked.

        fastjsonschema's exceptions name the failing value's path, built with
        `"...".format(**locals())` inside loops over keys, when raised and, for
        a $ref, on every call: in generated functions of thousands of locals
        that was 0.4 ms per failed `oneOf` branch, 35 s of CPU to validate a
        10,000-object spec (every value source is a `oneOf`). Its own
        detailed_exceptions=False does the same for errors but fails to
        generate `const` (KeyError 'definition_rule', 2.22.3) and keeps the
        per-call cost of a $ref."""

        def exc(self, msg, *args, append_to_msg=None, rule=None):
            self.l('raise JsonSchemaValueException("invalid")')

        def generate_ref(self):
            with self._resolver.in_scope(self._definition["$ref"]):
                name = self._resolver.get_scope_name()
                if self._resolver.get_uri() not in self._validation_functions_done:
                    self._needed_validation_functions[self._resolver.get_uri()] = name
                self.l("{}({variable}, custom_formats)", name)

    schema = _one_document()
    resolver = RefResolver.from_schema(schema, handlers={}, store={})
    generator = YesNo(schema, resolver=resolver, formats={}, use_default=False, use_formats=False)
    namespace = generator.global_state
    exec(generator.func_code, namespace)  # noqa: S102 - code generated from vaultform's own schema
    return namespace[resolver.get_scope_name()]


def is_valid_fast(data: Any) -> bool:
    try:
        _compiled()(data)
    except Exception:  # noqa: BLE001 - any doubt: the full validator decides
        return False
    return True


def dotted(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _wrong_type(error: jsonschema.ValidationError) -> bool:
    """A branch that wants another type altogether: it says nothing about the value."""
    return error.validator == "type" and not error.relative_path


def _leaf_errors(error: jsonschema.ValidationError) -> List[jsonschema.ValidationError]:
    """For oneOf/anyOf, the branch that came closest says the most."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    # "1y" is a bad duration string, not a wrong integer: ask the branches of
    # the value's own type, and among them the one that got furthest into it.
    candidates = [e for e in error.context if not _wrong_type(e)]
    if not candidates:
        return [error]  # no branch takes this type; _message lists the types that would do
    deepest = max(len(e.relative_path) for e in candidates)
    candidates = [e for e in candidates if len(e.relative_path) == deepest]
    # {env: A, other: 1}: the branch written for exactly this mistake words it best.
    best = next((e for e in candidates if e.validator == "not"), None) or \
        _best_match(candidates)
    return _leaf_errors(best)


def _best_match(errors):
    from jsonschema.exceptions import best_match
    return best_match(errors)


def _message(error: jsonschema.ValidationError) -> str:
    kw, schema = error.validator, error.schema
    if kw == "type":
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return "must be " + " or ".join(types)
    if kw == "enum":
        return "must be one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if kw == "const":
        return f"must be {json.dumps(schema['const'])}"
    if kw == "pattern":
        # The schema words it (patternErrorMessage, which editors show too); never the value.
        return schema.get("patternErrorMessage", "has an invalid format")
    if kw in ("minimum", "maximum", "minLength", "maxLength", "minProperties", "maxProperties",
              "minItems", "maxItems"):
        return f"violates {kw} {schema[kw]}"
    if kw in ("oneOf", "anyOf"):
        if error.context and all(_wrong_type(e) for e in error.context):
            types: List[str] = []
            for e in error.context:
                types += e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
            return "must be " + " or ".join(dict.fromkeys(types))
        return "is not any of the accepted forms"
    if kw == "not":
        if "notErrorMessage" in schema:  # the schema words it, like patternErrorMessage
            return schema["notErrorMessage"]
        return "looks like a value source ({env}, {file} or {generate}) but has other keys too"
    if kw == "propertyNames":
        return "has an invalid name"
    return f"fails schema check {kw!r}"


def validate_document(doc: LocatedDocument) -> List[SpecError]:
    errors: List[SpecError] = []
    if not isinstance(doc.data, dict):
        return [SpecError("the spec must be a mapping with at least `version: 1`",
                          location=doc.location(()))]
    if is_valid_fast(doc.data):
        return errors
    for top in validator().iter_errors(doc.data):
        for error in _leaf_errors(top):
            path = tuple(error.absolute_path)
            if error.validator == "additionalProperties" and isinstance(error.instance, dict) and \
                    set(error.schema.get("properties", {})) == VALUE_SOURCE_KEYS:
                extra = ", ".join(repr(k) for k in sorted(set(error.instance) - VALUE_SOURCE_KEYS))
                errors.append(SpecError(f"a value source takes env (with an optional default), file or generate, "
                                        f"not {extra}", location=doc.location(path), field=dotted(path)))
            elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
                known = set(error.schema.get("properties", {}))
                for key in sorted(set(error.instance) - known):
                    hint = difflib.get_close_matches(key, sorted(known), n=1)
                    what = "unknown section" if not path else "unknown field"
                    if path and path[-1:] != () and len(path) >= 1:
                        what += " (Vault would silently ignore it)" if path[0] in ("auth", "secrets_engines") else ""
                    msg = what + (f"; did you mean {hint[0]!r}?" if hint else "")
                    errors.append(SpecError(msg, location=doc.key_location(path + (key,)),
                                            field=dotted(path + (key,))))
            elif error.validator == "required":
                missing = [k for k in error.validator_value if k not in (error.instance or {})]
                for key in missing:
                    errors.append(SpecError(f"missing required field {key!r}",
                                            location=doc.location(path), field=dotted(path)))
            elif "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
                # The key itself is wrong (the error's instance is the key): point at it.
                key_path = path + (error.instance,)
                message = _message(error) if error.validator == "pattern" and \
                    "patternErrorMessage" in error.schema else "has an invalid name"
                errors.append(SpecError(message, location=doc.key_location(key_path), field=dotted(key_path)))
            else:
                errors.append(SpecError(_message(error), location=doc.location(path),
                                        field=dotted(path)))
    # One problem can surface through several schema branches; report it once.
    unique, seen = [], set()
    for e in errors:
        key = str(e)
        if key not in seen:
            seen.add(key)
            unique.append(e)
    unique.sort(key=lambda e: (e.location.line, e.location.column) if e.location else (0, 0))
    return unique
