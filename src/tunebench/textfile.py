"""Reading a user's text file (recipe, data, suite, config, registry entry) as UTF-8, with a clear error.

A file saved as Latin-1 or UTF-16, or a binary file given by mistake, is an error naming the file, the
byte offset, the line and the byte found, instead of a `UnicodeDecodeError` traceback.
"""

from __future__ import annotations

from pathlib import Path

from tunebench.errors import TunebenchError

__all__ = ["read_utf8", "decode_utf8"]


def read_utf8(path: str | Path, error: type[TunebenchError] = TunebenchError, what: str = "file") -> str:
    """Return the text of `path`; `error` (naming the file, byte offset and line) if it is not UTF-8 or unreadable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    return decode_utf8(data, path, error, what)


def decode_utf8(
    data: bytes, where: str | Path, error: type[TunebenchError] = TunebenchError, what: str = "file"
) -> str:
    """Return `data` decoded as UTF-8 (a leading BOM dropped); `error` naming `where` and the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        found = data[exc.start : exc.start + 1].hex()
        hint = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise error(
            f"{where}: line {line}: byte offset {exc.start}: expected UTF-8 text, found byte 0x{found}{hint}; "
            f"save the {what} as UTF-8"
        ) from None
