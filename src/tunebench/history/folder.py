"""The local-folder history backend: create-only record files, listed and read in the history's own layout.

A record is written whole to a temporary file in its year folder, fsynced, then published with
`os.link`, which fails instead of overwriting; the folder is fsynced after. The history never follows a
symbolic link inside itself: `runs/` or `runs/<YYYY>/` as a link is refused on write (the record would land
where the reader does not look) and named as a problem on read, and so is a record file that is a link
(a link to `/etc/passwd` is not read at all). Entries under `runs/` that are not record names are listed
so the store can name them; hidden names are not history.
"""

from __future__ import annotations

import builtins
import os
import stat
import tempfile
import time
from pathlib import Path

from tunebench.errors import StorageError
from tunebench.history.layout import MAX_RECORD_BYTES
from tunebench.storage.local import fsync_folder, write_atomic, write_temp

__all__ = ["LocalBackend", "STALE_TEMP_SECONDS"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
# A writer's temp file lives milliseconds; one this old was left by a killed writer and is removed.
STALE_TEMP_SECONDS = 600.0


class LocalBackend:
    """A local folder: temp file + fsync + `os.link` (create-only) + fsync of the folder."""

    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser()

    def location(self, name: str) -> str:
        """Return the file path of `name`."""
        return str(self.root / name)

    def create(self, name: str, data: bytes) -> None:
        """Publish `data` as the file `name`; never overwrite, never leave a partial file under `name`."""
        target = self.root / name
        self._refuse_links(target.parent)
        try:
            self._make_folders(target.parent)
            self._remove_stale_temp_files()
        except OSError as exc:
            raise StorageError(
                f"{target}: cannot create the record's folder ({exc.strerror}); nothing was published"
            ) from exc
        self._refuse_links(target.parent)  # a link planted between the check and the folders' creation
        try:
            tmp = write_temp(target.parent, data, prefix=".tmp-", suffix=".part")  # fsynced; removed on error
        except OSError as exc:
            raise StorageError(
                f"{target}: writing the record failed ({exc.strerror or exc}); nothing was "
                "published and the history is unchanged"
            ) from exc
        try:
            os.link(tmp, target)  # create-only, unlike a rename: an existing record is never replaced
        except FileExistsError:
            raise StorageError(
                f"{target}: a record with this name already exists; history records are never overwritten"
            ) from None
        except OSError as exc:
            raise StorageError(
                f"{target}: writing the record failed ({exc.strerror or exc}); nothing was "
                "published and the history is unchanged"
            ) from exc
        finally:
            _unlink_quietly(tmp)
        fsync_folder(target.parent)

    def list(self) -> list[str]:
        """Return the names of every entry under `runs/` but folders and hidden names, sorted.

        Not only records: a link, a socket or a file of another name is listed too, so the store names it
        instead of it being skipped silently.
        """
        return sorted(self._entries())

    def read(self, name: str) -> bytes:
        """Return the bytes of the regular file `name`; StorageError for a link, folder, device or huge file."""
        path = self.root / name
        try:
            # One open that checks as it goes: a link is refused, not followed (O_NOFOLLOW), and a FIFO
            # does not block (O_NONBLOCK); what was opened is then checked to be a regular file.
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
        except OSError as exc:
            problem = self.entry_problem(name) or f"cannot read ({exc.strerror or exc})"
            raise StorageError(f"{path}: {problem}") from None
        info = os.fstat(fd)
        wrong: str | None = None
        if not stat.S_ISREG(info.st_mode):
            wrong = _what(path, info.st_mode)
        elif info.st_size > MAX_RECORD_BYTES:
            wrong = f"{info.st_size} bytes, larger than any record ({MAX_RECORD_BYTES} at most)"
        if wrong is not None:
            os.close(fd)
            raise StorageError(f"{path}: {wrong}")
        with os.fdopen(fd, "rb") as handle:
            try:
                return handle.read(MAX_RECORD_BYTES + 1)
            except OSError as exc:
                raise StorageError(f"{path}: cannot read ({exc.strerror or exc})") from exc

    def versions(self) -> dict[str, str]:
        """Return {name: version} of what `list` lists: size, modification time and inode, which most changes move.

        Not every change: bytes that rot in place keep all three, so a summary read trusts its index
        until the record is read in full (`HistoryStore.get` rechecks before a record becomes a baseline).
        """
        found = {}
        for name in self._entries():
            try:
                info = os.lstat(self.root / name)
                kind = "link-" if stat.S_ISLNK(info.st_mode) else ""
                found[name] = f"{kind}{info.st_size}-{info.st_mtime_ns}-{info.st_ino}"
            except OSError:
                found[name] = "unreadable"
        return dict(sorted(found.items()))

    def entry_problem(self, name: str) -> str | None:
        """Return why the entry `name` is not a record file (a link, folder, device), or None for a regular file."""
        path = self.root / name
        try:
            mode = path.lstat().st_mode
        except OSError as exc:
            return f"cannot read ({exc.strerror})"
        return None if stat.S_ISREG(mode) else _what(path, mode)

    def _entries(self) -> builtins.list[str]:  # `list` here is the method above
        """Every entry of `runs/` and of its year folders; folders deeper than a year folder are entries too."""
        runs = self.root / "runs"
        if runs.is_symlink():
            return ["runs"]
        names: builtins.list[str] = []
        # os.scandir, not Path.rglob: a 10,000-record history is listed in a tenth of the time. Links are
        # never followed: they are entries, which the store names as problems.
        for entry in _scan(runs):
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                names.extend(
                    f"runs/{entry.name}/{inner.name}"
                    for inner in _scan(Path(entry.path))
                    if not inner.name.startswith(".")
                )
            else:
                names.append(f"runs/{entry.name}")
        return names

    def read_derived(self, name: str) -> bytes | None:
        """Return the derived file `name` (the summary index), or None when there is none."""
        try:
            return (self.root / name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_derived(self, name: str, data: bytes) -> None:
        """Replace the derived file `name` whole; its folder tells git to ignore it (it is not history)."""
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        ignore = target.parent / ".gitignore"
        if not ignore.exists():
            write_atomic(ignore, "# derived from ../runs by tunebench, rebuilt when missing: never commit it\n*\n")
        write_atomic(target, data)

    def check_writable(self, year: str | None = None) -> None:
        """Raise StorageError unless a record could be published here now; creates nothing that stays.

        `year` (default: this year's): its folder, the one this session's record goes to, must not be a link.
        """
        self._refuse_links(self.root / "runs" / (year or time.strftime("%Y", time.gmtime())))
        folder = self.root / "runs"
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # the folders a write would create are created in the nearest existing one
        try:
            if not folder.is_dir():
                raise NotADirectoryError(20, "a file where the history needs a folder", str(folder))
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".tmp-probe-", suffix=".part")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StorageError(
                f"{self.root}: the history cannot be written ({exc.strerror or exc}: {exc.filename or folder})"
            ) from exc

    def _refuse_links(self, folder: Path) -> None:
        """Raise StorageError when `runs/` or the year folder `folder` is a symbolic link."""
        for part in (self.root / "runs", folder):
            if part.is_symlink():
                raise StorageError(
                    f"{part}: a symbolic link (to {os.readlink(part)}); the history writes only into its own "
                    "folders (a record written through the link would not be read back); nothing was published"
                )

    def _remove_stale_temp_files(self) -> None:
        cutoff = time.time() - STALE_TEMP_SECONDS
        for temp in (self.root / "runs").glob("*/.tmp-*.part"):
            try:
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()
            except OSError:
                pass  # another writer removed it first, or it is not ours to remove: the write goes on

    def _make_folders(self, folder: Path) -> None:
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)
        # A new folder's entry lives in its parent: fsync the parents so the folder survives a crash.
        for created in reversed(missing):
            fsync_folder(created.parent)


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _what(path: Path, mode: int) -> str:
    if stat.S_ISLNK(mode):
        # Named by where it points, never read: the history follows its own layout only.
        return f"a symbolic link (to {os.readlink(path)}), not followed: the history reads only its own files"
    if stat.S_ISDIR(mode):
        return "a folder named like a record, not a record file"
    return "not a regular file (a socket, pipe or device), not a record"


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
