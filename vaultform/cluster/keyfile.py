"""Private files for what `operator init` hands out exactly once.

Vault returns the unseal shares and the root token in one answer and never
again, so the file they go to is made certain before init (a private
directory, an exclusive reservation), written atomically after it (a fresh
mkstemp file in the same directory, fsync, rename, fsync of the directory),
and when that still fails the keys go to a rescue file rather than nowhere.

Nothing here follows a symbolic link at the file's own name, reuses a file it
did not just create, or keeps another file's mode: every file is created with
O_EXCL|O_NOFOLLOW at 0600. Errors name paths and the system's reason, never
what was being written.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

from vaultform.errors import ClusterError

FILE_MODE = 0o600
DIR_MODE = 0o700
_EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
RESCUE_DIR_PREFIX = "vaultform-keys-"


def unresolved(path: Path) -> Path:
    """`path` absolute with its directories resolved but its own name kept:
    resolving the name itself would follow a symlink planted there."""
    path = Path(path)
    return path.parent.resolve() / path.name


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def private_dirs(directory: Path, for_file: Path) -> List[Path]:
    """Create the missing directories down to `directory`, each 0700 (an
    existing directory is the user's and keeps its mode); return those made."""
    made = []
    for path in [*reversed(directory.parents), directory]:
        if path.is_dir():
            continue  # (a symlinked directory above the file is the user's choice)
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            if path.is_dir():
                continue
            raise ClusterError(f"cannot create the directory of the keys file {for_file}: {path} is in the way "
                               "and is not a directory") from None
        except OSError as exc:
            raise ClusterError(f"cannot create the directory {path} for the keys file {for_file}: "
                               f"{_reason(exc)}") from None
        os.chmod(path, DIR_MODE)  # exact, whatever the umask
        made.append(path)
    return made


def check_directory(directory: Path, for_file: Path) -> None:
    """Refuse a directory others may write to (without the sticky bit): they
    could rename the keys file away or swap in their own."""
    st = directory.stat()
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise ClusterError(f"the directory {directory} of the keys file {for_file} is writable by others "
                           f"(mode {stat.S_IMODE(st.st_mode):o}); chmod go-w it or choose another keys_file")


def fsync_directory(directory: Path) -> None:
    """Make a rename or create in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # some file systems cannot sync a directory; nothing more to do there
            raise
    finally:
        os.close(fd)


def what_is_in_the_way(path: Path) -> Optional[str]:
    """Why nothing can be created at `path` (None: an empty regular file we
    may take over, since it holds nothing: an earlier run's reservation)."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return (f"{path} is a symbolic link, which vaultform does not follow for keys: remove it "
                "(or set keys_file to where it points)")
    if stat.S_ISDIR(st.st_mode):
        return f"a directory is in the way of the keys file {path}"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is in the way of the keys file and is not a regular file"
    if st.st_size == 0 and st.st_nlink == 1 and st.st_uid == os.geteuid():
        return None
    return (f"the keys file {path} already exists, but the cluster is not initialised: it holds the keys of "
            "an earlier cluster; move it away (it unseals only that cluster's data), then run apply again")


def reserve(path: Path) -> Tuple[int, int]:
    """Create `path` empty, exclusively, at 0600; return its (device, inode)."""
    for _ in range(2):
        try:
            fd = os.open(path, _EXCLUSIVE, FILE_MODE)
        except FileExistsError:
            try:
                problem = what_is_in_the_way(path)
                if problem is None:
                    path.unlink()  # an empty leftover reservation: take the name again, exclusively
            except FileNotFoundError:
                problem = None  # gone meanwhile: try again
            except OSError as exc:
                raise ClusterError(f"cannot create the keys file {path}: {_reason(exc)}") from None
            if problem is not None:
                raise ClusterError(problem) from None
            continue
        except OSError as exc:
            raise ClusterError(f"cannot create the keys file {path}: {_reason(exc)}") from None
        try:
            try:
                os.fchmod(fd, FILE_MODE)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            fsync_directory(path.parent)
        except OSError as exc:
            raise ClusterError(f"cannot create the keys file {path}: {_reason(exc)}") from None
        return st.st_dev, st.st_ino
    raise ClusterError(f"cannot create the keys file {path}: another process keeps creating it")


def release(path: Path, reservation: Optional[Tuple[int, int]]) -> None:
    """Remove our reservation if it is still ours and still empty."""
    if reservation is None:
        return
    try:
        st = path.lstat()
        if (st.st_dev, st.st_ino) == reservation and stat.S_ISREG(st.st_mode) and st.st_size == 0:
            path.unlink()
    except OSError:
        pass  # an empty file left behind holds nothing; the next run takes it over


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a crash leaves the old or the new file,
    never a part: a fresh temp file beside it (mkstemp: unique name, 0600,
    O_EXCL), fsync, rename over `path`, fsync the directory. Raises OSError;
    a temp file that could not be renamed is removed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        # The temp file's name made durable too: after a power loss before
        # the rename, the keys are still found beside the keys file.
        fsync_directory(path.parent)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_directory(path.parent)


def _write_new(path: Path, data: bytes) -> None:
    """Create `path` exclusively (0600, no link followed) and fill it durably."""
    _fill(os.open(path, _EXCLUSIVE, FILE_MODE), path, data)


def _fill(fd: int, path: Path, data: bytes) -> None:
    """Write `data` to the new file `path` open at `fd`, durably; on failure
    remove it (a part of the keys is of no use to anyone)."""
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
    except BaseException:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    fsync_directory(path.parent)


def _rescue_candidates(preferred: Optional[Path], near: Optional[Path]) -> Iterable:
    """Where a rescue file may go, best first; each a function returning the
    path it wrote (or raising OSError/ClusterError)."""
    if preferred is not None:
        def fixed(data: bytes) -> Path:
            private_dirs(preferred.parent, preferred)
            _write_new(preferred, data)
            return preferred
        yield fixed
    if near is not None:
        def beside(data: bytes) -> Path:
            fd, name = tempfile.mkstemp(dir=near.parent, prefix=f"{near.name}.rescued-", suffix=".json")
            _fill(fd, Path(name), data)
            return Path(name)
        yield beside

    def private_temp(data: bytes) -> Path:
        directory = Path(tempfile.mkdtemp(prefix=RESCUE_DIR_PREFIX))  # 0700, a fresh name
        try:
            _write_new(directory / "cluster-keys.json", data)
        except BaseException:
            try:
                directory.rmdir()
            except OSError:
                pass
            raise
        return directory / "cluster-keys.json"
    yield private_temp


def rescue(data: bytes, preferred: Optional[Path] = None, near: Optional[Path] = None) -> Tuple[Optional[Path], str]:
    """Write `data` to the first rescue place that takes it: `preferred`
    (created exclusively, never overwritten), a fresh file beside `near`, a
    fresh private directory under the system's temp directory. Returns
    (path, "") or (None, why the last place refused)."""
    why = "no place to write to"
    for attempt in _rescue_candidates(preferred, near):
        try:
            return attempt(data), ""
        except OSError as exc:
            why = f"{exc.filename}: {_reason(exc)}" if exc.filename else _reason(exc)
        except ClusterError as exc:
            why = exc.message
    return None, why
