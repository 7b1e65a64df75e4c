"""The history's own layout: record file names, the largest record read, and record bytes parsed safely.

A history holds records only as regular files named `runs/<YYYY>/<YYYYMMDDTHHMMSSZ>_<run id>.json`, the
year folder the stamp's year. Anything else under `runs/` (another name, a symbolic link, a file larger
than any record) is a problem named by its path and skipped; hidden names (`.tmp-*.part` of a writer at
work, `.gitkeep`) are not history. A reason never quotes the bytes of a file it refused: a link to
`/etc/passwd` or a secret dropped into the folder must not be printed into a CI log.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tunebench.errors import RecordError

__all__ = ["RECORD_NAME", "MAX_RECORD_BYTES", "name_problem", "parse_record_bytes"]

# runs/<year>/<stamp>_<run id>.json; the run id as common.schema.json's run_id pattern.
RECORD_NAME = re.compile(r"runs/(\d{4})/((\d{4})\d{4}T\d{6}Z)_([A-Za-z0-9][A-Za-z0-9._-]{3,63})\.json")
# A 100-question eval record is about 100 kB; lm-eval tasks of 10,000 questions about 10 MB. Anything
# larger is not a record, and reading it whole would only spend the memory a CI runner needs.
MAX_RECORD_BYTES = 64 * 1024 * 1024


def name_problem(name: str) -> str | None:
    """Return why `name` (relative, POSIX) is not a record's name, or None when it is one."""
    found = RECORD_NAME.fullmatch(name)
    if found is None:
        return (
            "not a record name (expected runs/<YYYY>/<YYYYMMDDTHHMMSSZ>_<run id>.json); "
            "the history reads only its own layout: skipped"
        )
    if found.group(1) != found.group(3):
        return f"a record stamped {found.group(3)} in the folder runs/{found.group(1)}/: skipped"
    return None


def parse_record_bytes(data: bytes) -> Any:
    """Return the JSON value in `data`; RecordError saying what the bytes are (never quoting them) when not JSON."""
    if not data:
        raise RecordError("an empty file (0 bytes), not a record")
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError(f"{len(data)} bytes, larger than any record ({MAX_RECORD_BYTES} bytes at most)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        binary = b"\0" in data[:4096]
        what = "binary data" if binary else "text that is not UTF-8"
        raise RecordError(f"{what} ({len(data)} bytes; byte {exc.start} is not UTF-8), not a record") from None
    if not text.strip():
        raise RecordError(f"only whitespace ({len(data)} bytes), not a record")
    if "\0" in text:
        raise RecordError(f"binary data ({len(data)} bytes, contains NUL bytes), not a record")
    try:
        return json.loads(text)
    except RecursionError:
        raise RecordError(f"JSON nested deeper than any record ({len(data)} bytes), not a record") from None
    except json.JSONDecodeError as exc:
        if not text.lstrip().startswith(("{", "[")):
            raise RecordError(f"not JSON ({len(data)} bytes of text), not a record") from None
        stripped = text.rstrip()
        if exc.pos >= len(stripped) or not stripped.endswith(("}", "]")):
            raise RecordError(
                f"line {exc.lineno}: truncated: the JSON ends before the record does ({exc.msg})"
            ) from None
        raise RecordError(f"line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}") from None
