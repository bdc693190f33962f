"""Value sources: where a value comes from when it must not be in the spec.

`{env: NAME}`, `{file: PATH}` (relative to the spec) and
`{generate: {length: 32}}`; `{env: NAME, default: {generate: {...}}}` takes the
variable when it is set and is a generated value otherwise. Generated values are only known once the live
value has been read (an existing value is never overwritten), so they resolve
to a `Generated` marker that the secret kind settles at plan time.

What a source gives is secret by construction: it resolves to a `Secret`
(a str that says "(sensitive)" in its repr), and `model.Resource` treats any
field holding one as sensitive whatever kind carries it. A kind can only opt
a field *out* (a CA certificate read from a file is public), never has to
opt one in.
"""

from __future__ import annotations

import os
import secrets as _random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from vaultform import redact
from vaultform.errors import Location, ValueSourceError

SOURCE_KEYS = ("env", "file", "generate")

_CHARSETS = {
    "alphanumeric": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "ascii-printable": string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_{|}~",
    "base64url": string.ascii_letters + string.digits + "-_",
}


class Secret(str):
    """A value that came from a value source (or is otherwise secret).

    It is still a str, so it compares, hashes and serialises for Vault like
    the plain value; only its repr is masked, so a Secret caught in a debug
    print, an f-string's !r or a container's repr shows no value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('(sensitive)')"


def contains_secret(value: Any) -> bool:
    """Whether a field value holds a Secret anywhere (a list of sources, say)."""
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(contains_secret(v) for v in value)
    return False


def has_source(value: Any) -> bool:
    """Whether a raw spec value is, or holds, a value source."""
    if is_source(value):
        return True
    if isinstance(value, dict):
        return any(has_source(v) for v in value.values())
    if isinstance(value, list):
        return any(has_source(v) for v in value)
    return False


def env_names(data: Any) -> set:
    """Every variable an `{env: NAME}` anywhere in the spec names: none of
    them may reach a process vaultform starts (see childenv.py)."""
    if is_source(data):
        key, arg = source_of(data)
        return {str(arg)} if key == "env" and arg else set()
    if isinstance(data, dict):
        return set().union(*(env_names(v) for v in data.values())) if data else set()
    if isinstance(data, list):
        return set().union(*(env_names(v) for v in data)) if data else set()
    return set()


@dataclass(frozen=True)
class Generated:
    length: int = 32
    charset: str = "alphanumeric"

    def new_value(self) -> str:
        alphabet = _CHARSETS[self.charset]
        value = Secret("".join(_random.choice(alphabet) for _ in range(self.length)))
        redact.register(value)
        return value


def is_source(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if len(value) == 2 and set(value) == {"env", "default"}:
        return True  # {env: NAME, default: {generate: {...}}}
    return len(value) == 1 and next(iter(value)) in SOURCE_KEYS


def source_of(value: dict) -> "tuple[str, Any]":
    """(kind, argument) of a source: ("env", NAME) for an env with a default too."""
    if "env" in value:
        return "env", value["env"]
    return next(iter(value.items()))


def describe(value: Any) -> Optional[str]:
    """A printable description of a source (never the value): env:NAME."""
    if not is_source(value):
        return None
    key, arg = source_of(value)
    if key == "env" and "default" in value:
        return f"env:{arg}, else {describe(value['default'])}"
    if key == "generate":
        return f"generated({(arg or {}).get('length', 32)})"
    return f"{key}:{arg}"


_placeholders = False


class placeholders:
    """Within it, sources resolve to an empty Secret without reading any
    variable or file: for work that needs the spec's shape, never its values
    (shell completion lists addresses)."""

    def __enter__(self) -> "placeholders":
        global _placeholders
        self._before, _placeholders = _placeholders, True
        return self

    def __exit__(self, *exc) -> None:
        global _placeholders
        _placeholders = self._before


def resolve(value: Any, base_dir: Path, location: Optional[Location], field: str,
            sensitive: bool = True) -> Any:
    """The value a source stands for, as a Secret unless the kind said this
    field is public (`sensitive=False`); plain values pass through unchanged."""
    if not is_source(value):
        if sensitive:
            redact.register(value)
        return value
    if _placeholders:
        return Secret("")
    key, arg = source_of(value)
    if key == "env":
        if arg not in os.environ and is_source(value.get("default")):
            # The fallback is a generated value like any other: made once, then kept.
            return resolve(value["default"], base_dir, location, field, sensitive)
        if arg not in os.environ:
            raise ValueSourceError(f"environment variable {arg} is not set", location=location, field=field)
        result = os.environ[arg]
    elif key == "file":
        path = Path(arg) if Path(arg).is_absolute() else base_dir / arg
        try:
            result = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueSourceError(f"file {path} does not exist", location=location, field=field) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ValueSourceError(f"file {path} cannot be read: {reason}", location=location, field=field) from None
    else:
        arg = arg or {}
        return Generated(length=int(arg.get("length", 32)), charset=arg.get("charset", "alphanumeric"))
    if not sensitive:
        return result
    redact.register(result)
    return Secret(result)
