"""Reading a file the user named (a spec, a saved plan) without trusting it.

The name may be a FIFO (opening it for reading would block for ever), a
device such as /dev/zero (reading it would never end), a directory, or a
regular file far larger than any spec. Each is refused with one line before
more than MAX_BYTES are read.
"""

from __future__ import annotations

import os
import stat

from vaultform.errors import SpecError

# A spec of 10,000 objects is about 1.3 MB and one of 100,000 (bench/scale.py
# --large) about 13 MB, loaded in about 10 s; 64 MiB leaves room for generous
# policy text while refusing what no one writes by hand or by generator.
MAX_BYTES = 64 * 1024 * 1024


def read_bytes(path: str, what: str = "spec file") -> bytes:
    """The whole content of the regular file at `path`, at most MAX_BYTES."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not hang; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SpecError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise SpecError(f"{what} {path} is a directory, not a file") from None
    except OSError as exc:
        raise SpecError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise SpecError(f"{what} {path} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(f"{what} {path} is not a regular file (a device, FIFO or socket is never read)")
        if info.st_size > MAX_BYTES:
            raise SpecError(f"{what} {path} is {info.st_size} bytes; the limit is {MAX_BYTES} bytes")
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_BYTES:  # it grew while being read
                raise SpecError(f"{what} {path} is larger than the limit of {MAX_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise SpecError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text(path: str, what: str = "spec file") -> str:
    data = read_bytes(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None
