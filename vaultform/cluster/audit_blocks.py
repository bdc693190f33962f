"""The `audit` blocks of a local node's server configuration, read back.

The local cluster renders the spec's audit devices into each node's
config.hcl (cluster/local.py `audit_hcl`), and OpenBao reads them from there
at start and on SIGHUP. Someone may edit that file by hand; what it holds
then matters even when OpenBao's table does not show it yet:

- a device changed there is refused on reload ("modifications to audit
  devices are not allowed", in the node's log only), and a restarted node
  whose configuration differs from its table fails to unseal;
- a device removed there is disabled at the next reload.

So the plan compares the configuration as well as sys/audit. OpenBao's
configuration is HCL 1 (quoted attribute names, as rendered here, are
valid there and not in HCL 2, so python-hcl2 cannot read it): this reads the
small part it needs, `audit "<type>" "<path>" { description = "..." local =
true|false options { key = "value" ... } }`, and skips every other block.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Tuple

_TOKEN = re.compile(r'''
    (?P<space>\s+|\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<word>[A-Za-z0-9_.+\-]+)
  | (?P<punct>[{}=\[\],])
''', re.VERBOSE | re.DOTALL)


class AuditConfigError(ValueError):
    """The configuration text is not HCL this reader understands (line given)."""


def _tokens(text: str) -> List[Tuple[str, str, int]]:
    out, pos, line = [], 0, 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise AuditConfigError(f"line {line}: unexpected {text[pos]!r}")
        kind = match.lastgroup
        if kind != "space":
            value = match.group()
            out.append((kind, json.loads(value) if kind == "string" else value, line))
        line += match.group().count("\n")
        pos = match.end()
    return out


def _value(token: Tuple[str, str, int]) -> Any:
    kind, value, _line = token
    if kind == "word" and value in ("true", "false"):
        return value == "true"
    return value


def _block(tokens, i: int) -> Tuple[Dict[str, Any], int]:
    """The body of a block whose '{' is at tokens[i-1]: attributes and nested blocks."""
    body: Dict[str, Any] = {}
    while i < len(tokens):
        kind, name, line = tokens[i]
        if (kind, name) == ("punct", "}"):
            return body, i + 1
        if kind not in ("word", "string") or i + 1 >= len(tokens):
            raise AuditConfigError(f"line {line}: expected a name, found {name!r}")
        nxt = tokens[i + 1]
        if nxt[1] == "=" and nxt[0] == "punct" and i + 2 < len(tokens):
            body[name] = _value(tokens[i + 2])
            i += 3
        elif nxt[1] == "{" and nxt[0] == "punct":
            body[name], i = _block(tokens, i + 2)
        else:
            raise AuditConfigError(f"line {nxt[2]}: expected '=' or '{{' after {name!r}")
        if i < len(tokens) and tokens[i][1] == ",":
            i += 1
    raise AuditConfigError("a block is not closed")


def _skip_block(tokens, i: int) -> int:
    depth = 1
    while i < len(tokens) and depth:
        kind, value, _line = tokens[i]
        if kind == "punct":
            depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(value, 0)
        i += 1
    return i


def audit_devices_in(text: str) -> Dict[str, Dict[str, Any]]:
    """path -> {type, description, local, options} for every audit block,
    in the form sys/audit is read into (kinds/audit_device.py)."""
    tokens = _tokens(text)
    devices: Dict[str, Dict[str, Any]] = {}
    i = 0
    while i < len(tokens):
        kind, value, line = tokens[i]
        head = tokens[i + 1:i + 4]
        if (kind, value) == ("word", "audit") and len(head) == 3 and head[0][0] == head[1][0] == "string" \
                and head[2][1] == "{":
            body, i = _block(tokens, i + 4)
            options = body.get("options", {})
            if not isinstance(options, dict):
                raise AuditConfigError(f"line {line}: the options of audit device {head[1][1]!r} are not a block")
            local = body.get("local", False)
            devices[head[1][1]] = {
                "type": head[0][1], "description": str(body.get("description", "")),
                # OpenBao parses local as a bool and takes "true" as well
                "local": local is True or str(local).lower() == "true",
                "options": {key: ("true" if v is True else "false" if v is False else str(v))
                            for key, v in options.items()}}
            continue
        i = _skip_block(tokens, i + 1) if (kind, value) == ("punct", "{") else i + 1
    return devices
