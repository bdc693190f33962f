"""Assemble the published JSON Schema from the kinds.

Each kind declares its spec section and that section's schema, the prune key
it answers to, and (for objects inside a mount, such as a Kubernetes role)
the key and fragment its mount type takes. This module puts them together:

- `vaultform.schema.json`: spec-base.json (what no kind owns: version, vault,
  allow_destroy, prune) plus every kind's section, its prune key, and the
  addresses `allow_destroy` may name;
- `auth-method.schema.json` and `secrets-engine.schema.json`: one if/then
  per mount type, giving the keys that type's kinds declare.

The files are written, not built at run time, so editors can point at them
and `validate` loads no kind to check a spec. `python -m vaultform.schema_build`
rewrites them; `--check` (run by the tests) fails when one is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

from vaultform.kinds import registry
from vaultform.kinds.base import Kind

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"  # the source checkout's schemas/
MOUNT_FILES = {"auth": "auth-method.schema.json", "secrets_engines": "secrets-engine.schema.json"}


def _read(name: str) -> dict:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def root_schema(kinds: List[Kind]) -> dict:
    schema = _read("spec-base.json")
    schema.pop("$comment", None)
    base = schema["properties"]
    properties = {name: base[name] for name in ("version", "vault")}
    for kind in kinds:
        if kind.section:
            if kind.section in properties:
                raise ValueError(f"two kinds own the spec section {kind.section!r}")
            properties[kind.section] = kind.section_schema
    properties.update({name: body for name, body in base.items() if name not in properties})
    destroyers = sorted({k.name for k in kinds if k.destroys_contents})
    properties["allow_destroy"]["items"]["pattern"] = rf"^({'|'.join(destroyers)})\.\S+$"
    properties["prune"]["properties"] = {key: {"type": "boolean"}
                                         for key in sorted({k.prune_key for k in kinds if k.prune_key})}
    schema["properties"] = properties
    return schema


def _condition(kind: Kind) -> dict:
    return kind.mount_condition or {"properties": {"type": {"const": kind.mount_type}}, "required": ["type"]}


def mount_schema(section: str, kinds: List[Kind]) -> dict:
    """The mount fragment: its base (the mount's own fields), then one if/then
    per mount type its kinds know, then for each key only some types take
    (one the base leaves open, with just a description) an else that names
    the types it belongs to."""
    schema = _read(MOUNT_FILES[section].replace(".schema.json", ".base.json"))
    schema.pop("$comment", None)
    inside = [k for k in kinds if k.mount_section == section and k.mount_type and k.spec_key_schema is not None]
    by_condition: Dict[str, dict] = {}
    for kind in sorted(inside, key=lambda k: (k.mount_type, k.spec_key)):
        key = json.dumps(_condition(kind), sort_keys=True)
        by_condition.setdefault(key, {})[kind.spec_key] = kind.spec_key_schema
    blocks = [{"if": json.loads(condition), "then": {"properties": keys}} for condition, keys in by_condition.items()]
    for spec_key in sorted({k.spec_key for k in inside}):
        if set(schema["properties"].get(spec_key, {})) - {"description"}:
            continue  # the base types it for every mount type
        owners = [k for k in inside if k.spec_key == spec_key]
        conditions = list({json.dumps(_condition(k), sort_keys=True): _condition(k) for k in owners}.values())
        message = next((k.misplaced_message for k in owners if k.misplaced_message), None) or \
            f"only a {' or '.join(sorted({k.mount_type for k in owners}))} mount has {spec_key}"
        blocks.append({"if": conditions[0] if len(conditions) == 1 else {"anyOf": conditions},
                       "else": {"properties": {spec_key: {"not": {}, "notErrorMessage": message}}}})
    schema["allOf"] = schema.get("allOf", []) + blocks
    if not schema["allOf"]:
        del schema["allOf"]
    return schema


def generated() -> Dict[str, dict]:
    kinds = registry()
    files: Dict[str, Callable[[], dict]] = {"vaultform.schema.json": lambda: root_schema(kinds)}
    for section in MOUNT_FILES:
        files[MOUNT_FILES[section]] = lambda section=section: mount_schema(section, kinds)
    return {name: make() for name, make in files.items()}


def text(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def stale_files() -> List[str]:
    return [name for name, schema in generated().items()
            if (SCHEMA_DIR / name).read_text(encoding="utf-8") != text(schema)]


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        stale = stale_files()
        for name in stale:
            print(f"schemas/{name} is out of date: run python -m vaultform.schema_build", file=sys.stderr)
        return 1 if stale else 0
    for name, schema in generated().items():
        (SCHEMA_DIR / name).write_text(text(schema), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
