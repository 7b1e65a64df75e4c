"""Support for the hostile-input tests: a byte-for-byte picture of a folder, to prove nothing recorded changed."""

from __future__ import annotations

import os
from pathlib import Path


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Return {relative path: bytes (a file) or 'link -> target' / 'dir'} for everything under `folder`."""
    picture: dict[str, bytes | str] = {}
    if not folder.exists():
        return picture
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                picture[key] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                picture[key] = "dir"
            else:
                picture[key] = path.read_bytes()
    return picture
