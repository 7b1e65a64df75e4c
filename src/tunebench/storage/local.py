"""Local files written whole: a reader, or a crash, sees the old file or the new one, never half of one.

The bytes go to a hidden temp file in the target's folder (same filesystem, so the rename is atomic),
which is fsynced before it is renamed over the target; the folder is fsynced after, so the rename itself
survives a power cut. Any error removes the temp file. Leftovers of a `kill -9` are hidden `.*.partial`
files, which no reader lists.

The target must be a regular file or nothing: a device, FIFO, socket, folder or symlink found at the path
is refused (`check_target`), never replaced, so `--out /dev/full` or a planted symlink cannot be clobbered.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from tunebench.errors import StorageError

__all__ = ["write_atomic", "write_temp", "fsync_folder", "check_target"]

TEMP_SUFFIX = ".partial"

# mkstemp creates 0600 files; a log, a report or a record must get the mode open() would give it.
# The umask can only be read by setting it, so it is read once, at import.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def write_atomic(path: Path | str, data: bytes | str) -> None:
    """Replace the file `path` with `data` (str is written as UTF-8) atomically and durably.

    Raises StorageError, writing nothing, when `path` exists and is not a regular file (`check_target`)."""
    target = Path(path)
    check_target(target)
    tmp = write_temp(target.parent, data.encode("utf-8") if isinstance(data, str) else data, f".{target.name}.")
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)


def check_target(path: Path | str) -> None:
    """Raise StorageError when `path` exists and is not a regular file; a missing path is fine.

    The last component is not followed: a symlink is refused whatever it points to, since the rename
    would replace the link (or, followed, write wherever someone else pointed it).
    """
    target = Path(path)
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"{target}: cannot check before writing: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise StorageError(f"{target}: {_kind(mode)}, not a regular file: refusing to write over it")


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a file")


def write_temp(folder: Path, data: bytes, prefix: str, suffix: str = TEMP_SUFFIX) -> Path:
    """Return a new temp file in `folder` holding `data`, fsynced; on any error it is removed and the error raised."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=suffix)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def fsync_folder(folder: Path) -> None:
    """Flush `folder`'s entries (a rename or link in it) to disk, where the filesystem allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the data file itself was fsynced
    finally:
        os.close(fd)
