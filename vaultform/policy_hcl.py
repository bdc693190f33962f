"""A fast reader for the HCL that ACL policies are almost always written in.

python-hcl2 (a full HCL2 grammar on Lark) takes about 6 ms per policy: 24 s
to validate a spec of 4,000 policies. Policies use a tiny part of HCL:

    # comment                      // comment        /* comment */
    path "secret/data/app/*" {
      capabilities = ["read", "list"]
      max_wrapping_ttl = "1h"       min_wrapping_ttl = 60
    }

`read` handles exactly that (path blocks whose fields are strings, numbers,
booleans or lists of strings) and answers None for anything else (maps such
as allowed_parameters, interpolation, heredocs, a syntax error), so the
caller falls back to python-hcl2, which also words the errors. Its result
has python-hcl2's shape, quotes kept on strings, so callers cannot tell
which reader ran; tests/test_units.py compares both on a corpus.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\n]+)
  | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n$]|\\["\\nt])*")
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<word>[A-Za-z_][\w-]*)
  | (?P<punct>[{}\[\]=,])
""", re.VERBOSE | re.DOTALL)


def _tokens(text: str) -> Optional[List[tuple]]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            return None  # something this reader does not know: let python-hcl2 judge it
        kind = match.lastgroup
        if kind not in ("space", "comment"):
            out.append((kind, match.group()))
        pos = match.end()
    return out


def _value(kind: str, text: str) -> Any:
    if kind == "string":
        return text
    if kind == "number":
        return float(text) if "." in text else int(text)
    return {"true": True, "false": False}.get(text, _NOT_A_VALUE)


_NOT_A_VALUE = object()


def read(text: str) -> Optional[Dict[str, Any]]:
    tokens = _tokens(text)
    if tokens is None:
        return None
    blocks: List[Dict[str, Any]] = []
    i, n = 0, len(tokens)

    def at(k: int) -> tuple:
        return tokens[k] if k < n else ("end", "")

    while i < n:
        if at(i) != ("word", "path") or at(i + 1)[0] != "string" or at(i + 2) != ("punct", "{"):
            return None
        header, i = at(i + 1)[1], i + 3
        body: Dict[str, Any] = {}
        while at(i) != ("punct", "}"):
            name, eq = at(i), at(i + 1)
            if name[0] != "word" or eq != ("punct", "=") or name[1] in body:
                return None  # a repeated key: python-hcl2 decides what that means
            kind, text_ = at(i + 2)
            if (kind, text_) == ("punct", "["):
                items, i = [], i + 3
                while at(i) != ("punct", "]"):
                    if at(i)[0] != "string":
                        return None
                    items.append(at(i)[1])
                    i += 1
                    if at(i) == ("punct", ","):
                        i += 1
                    elif at(i) != ("punct", "]"):
                        return None
                body[name[1]] = items
                i += 1
            else:
                value = _value(kind, text_)
                if value is _NOT_A_VALUE:
                    return None
                body[name[1]] = value
                i += 3
            if at(i) == ("end", ""):
                return None
        body["__is_block__"] = True
        blocks.append({header: body})
        i += 1
    return {"path": blocks} if blocks else None
