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


# -- syntax errors in words a person reads ---------------------------------------------

_SYMBOLS = {"RBRACE": "}", "LBRACE": "{", "RSQB": "]", "LSQB": "[", "EQ": "=", "COMMA": ",",
            "DBLQUOTE": '"', "COLON": ":", "LPAR": "(", "RPAR": ")"}
_CLOSERS = {"{": "}", "[": "]"}


def _open_brackets(text: str) -> "tuple[List[tuple], Optional[tuple]]":
    """The brackets still open at the end of `text` [(char, line, column)],
    and an unterminated string's opening quote (line, column) if any.
    Strings and comments are skipped, as HCL reads them."""
    stack: List[tuple] = []
    line, column, i, n = 1, 1, 0, len(text)

    def advance(count: int) -> None:
        nonlocal i, line, column
        for char in text[i:i + count]:
            line, column = (line + 1, 1) if char == "\n" else (line, column + 1)
        i += count

    while i < n:
        char = text[i]
        if char == '"':
            start = (line, column)
            advance(1)
            while i < n and text[i] not in '"\n':
                advance(2 if text[i] == "\\" else 1)
            if i >= n or text[i] == "\n":
                return stack, start
            advance(1)
        elif char == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            advance((end if end >= 0 else n) - i)
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            advance((end + 2 if end >= 0 else n) - i)
        elif char in "{[":
            stack.append((char, line, column))
            advance(1)
        elif char in "}]":
            if stack and _CLOSERS[stack[-1][0]] == char:
                stack.pop()
            advance(1)
        else:
            advance(1)
    return stack, None


def _opener_word(text: str, line: int, column: int) -> str:
    """'a `path` block' for the `{` of `path "x" {`, else 'a block'."""
    before = text.splitlines()[line - 1][:column - 1] if 0 < line <= len(text.splitlines()) else ""
    words = re.findall(r"[A-Za-z_][\w-]*", before)
    return f"a `{words[0]}` block" if words else "a block"


def explain_syntax_error(text: str, token_type: str, token_value: str, expected, line: int,
                         column: int) -> "tuple[str, int, int]":
    """(message, line, column) for a parser's "Unexpected token" at line:column
    of a policy: what is wrong in plain words, placed where it can be fixed
    (an unclosed block is reported at its `{`, not at the end of the text)."""
    expected = set(expected or ())
    if token_type == "$END":
        stack, quote = _open_brackets(text)
        if quote is not None:
            return 'a string is not closed: this `"` has no closing quote on its line', quote[0], quote[1]
        if stack:
            char, at_line, at_column = stack[-1]
            what = _opener_word(text, at_line, at_column) if char == "{" else "a list"
            return (f"{what} is not closed: this `{char}` has no matching `{_CLOSERS[char]}`",
                    at_line, at_column)
        return "the policy ends too early", line, column
    words = token_value.split()
    shown = (_SYMBOLS.get(token_type) or (words[0][:40] if token_type == "NAME" and words else "")
             or (token_value.strip()[:1] if token_value.strip() else token_type))
    if shown == ";":
        return "unexpected `;`: HCL needs no `;` at the end of a line", line, column
    if token_type == "STRING_CHARS" and shown == "}" and "DBLQUOTE" in expected:
        return "unexpected `}`: a value is missing (after `=` or `,`)?", line, column
    if token_type == "STRING_CHARS" and "DBLQUOTE" in expected and "INT_LITERAL" in expected:
        return f"unexpected `{shown}`: a value is missing here (a quoted string, a number or a list)?", line, column
    if token_type == "RBRACE" and "$END" in expected:
        return ("unexpected `}`: no block is open here (one `}` too many, or a `path` block's `{` "
                "is missing?)", line, column)
    if token_type == "RBRACE" and "RSQB" in expected:
        return "unexpected `}`: a list is not closed (a `]` is missing)?", line, column
    if token_type == "RBRACE":
        return "unexpected `}`: a `path` block is not complete?", line, column
    if "COMMA" in expected and "RSQB" in expected:
        return f"unexpected `{shown}`: a `,` is missing between the list's items?", line, column
    if "LBRACE" in expected and "EQ" not in expected:
        return f"unexpected `{shown}`: a `path \"...\"` must be followed by `{{`?", line, column
    if "EQ" in expected:
        return f"unexpected `{shown}`: an `=` is missing after the key?", line, column
    return f"unexpected `{shown}`", line, column
