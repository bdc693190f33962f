"""`vaultform ARGS` with a fault injected into the keys file's write, for the
key-custody tests: `python faulty_vaultform.py FAULT ARGS...`.

Faults (each after the keys file was reserved, i.e. once nothing can stop
sys/init any more):
- `replace-fails`: renaming the written temp file onto the keys file fails
  (ENOSPC), as a full disk would make it.
- `dir-read-only`: the keys file's directory becomes read-only, so neither
  the temp file nor a rescue file beside it can be created.
- `killed-after-reserve`: the process is SIGKILLed right after the
  reservation, before sys/init.
- `killed-before-rename`: SIGKILLed when the temp file is written and
  fsynced, just before it is renamed onto the keys file.
- `interrupted-before-rename`: SIGINT and SIGTERM (Ctrl-C, a CI cancel)
  arrive at that same moment; the process carries on.

TMPDIR is taken as the temp directory even when it is not writable (Python
would quietly fall back to /tmp), so a test can make the last rescue place
fail too.

With VAULTFORM_TEST_INIT_ANSWER=PATH the keys Vault handed out are also
written to PATH, the test's own evidence to scan everything else for
(vaultform itself never learns of this file).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import tempfile


def main() -> None:
    fault, args = sys.argv[1], sys.argv[2:]
    # As in a terminal: a test run started in the background (bash ignores
    # SIGINT for asynchronous commands) must not pass "ignore Ctrl-C" on to
    # the run whose Ctrl-C handling is under test.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from vaultform.cluster import base, keyfile

    original_reserve = keyfile.reserve
    original_replace = os.replace
    reserved = []

    def reserve(path):
        answer = original_reserve(path)
        reserved.append(str(path))
        if fault == "dir-read-only":
            os.chmod(path.parent, 0o500)
        if fault == "killed-after-reserve":
            os.kill(os.getpid(), signal.SIGKILL)
        return answer

    def replace(src, dst, *a, **kw):
        if fault == "replace-fails" and str(dst) in reserved:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        if fault == "killed-before-rename" and str(dst) in reserved:
            os.kill(os.getpid(), signal.SIGKILL)
        if fault == "interrupted-before-rename" and str(dst) in reserved:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
        return original_replace(src, dst, *a, **kw)

    keyfile.reserve = reserve
    os.replace = replace
    if os.environ.get("TMPDIR"):
        tempfile.tempdir = os.environ["TMPDIR"]

    evidence = os.environ.get("VAULTFORM_TEST_INIT_ANSWER")
    if evidence:
        original_keys = base.VaultCluster._keys_from_init

        def keys_from_init(self, response):
            keys = original_keys(self, response)
            with open(evidence, "w") as handle:
                json.dump(keys, handle)
            return keys

        base.VaultCluster._keys_from_init = keys_from_init

    from vaultform.cli import main as vaultform_main

    vaultform_main(args)


if __name__ == "__main__":
    if sys.argv[1] not in ("replace-fails", "dir-read-only", "killed-after-reserve", "killed-before-rename",
                           "interrupted-before-rename"):
        sys.exit(f"unknown fault {sys.argv[1]!r}")
    main()
