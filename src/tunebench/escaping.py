"""Making a string from a record, a model, a server or a user safe where it is rendered: one module for all.

A served model's id, a note, a judge's reason or a server's error message can hold anything. Rendered raw, a
carriage return rewrites a terminal line ("PASS" over "FAIL"), an escape sequence clears the screen or
recolours it, a newline opens a Markdown heading, `<script>` becomes HTML and `@user` a GitHub mention.

- `visible(text)`: control characters (C0 but tab and newline, DEL, C1), line and paragraph separators and
  the bidirectional overrides, shown as `\\r`, `\\x1b`, `\\u202e`: what the bytes are, never what they do.
- `terminal_text(value)`: for the terminal, a log file or a JUnit property: one line, every control visible
  (`multiline=True` keeps newlines, for a multi-line message).
- `markdown_text(value)`: literal Markdown text for a cell, a heading or a paragraph: one line, no markup, no
  HTML, controls visible, `@mentions` neutralised (GitHub notifies no one from a rendered name).
- `markdown_code(value)`, `markdown_link(label, target)`, `markdown_imported(text)`, `escape_cell(text)`: a code
  span, a link to a relative or http(s) target only, a hand-written log's cell (its Markdown kept, its HTML
  made text) and a table cell around already-safe Markdown.
- `cut(text, limit, pointer)`: a long text cut at `limit` characters, saying where the whole text is.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

__all__ = [
    "visible",
    "terminal_text",
    "markdown_text",
    "markdown_code",
    "markdown_prose",
    "markdown_link",
    "markdown_imported",
    "escape_cell",
    "neutralize_mentions",
    "cut",
]

# C0 controls but tab and newline, DEL, C1 controls; U+2028/2029 (line/paragraph separators, line breaks to
# some renderers); the bidi embeddings, overrides and isolates (text that reads other than it is stored).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NEWLINES = re.compile(r"\r?\n")
_NAMED = {"\r": "\\r", "\x0b": "\\v", "\x0c": "\\f", "\x1b": "\\x1b"}


def visible(text: str) -> str:
    """Return `text` with every control character written as an escape (`\\r`, `\\x1b`, `\\u202e`)."""
    return _CONTROLS.sub(lambda m: _NAMED.get(m.group(), _escape(m.group())), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(value: Any, multiline: bool = False) -> str:
    """Return `value` for the terminal (or a text log, a JUnit property): controls visible; one line unless
    `multiline` (then `\\n` and `\\r\\n` stay line breaks; a lone `\\r` is still shown, never obeyed)."""
    lines = _NEWLINES.split(str(value))
    if multiline:
        return "\n".join(visible(line) for line in lines)
    return " ".join(visible(line) for line in lines)


# Markup that opens anywhere in a line; `_` only at a word's edge (GFM never emphasizes inside a word, so
# `federal_income_tax` stays as written); markers that matter only at the start of a line.
_INLINE_MARKUP = re.compile(r"([\\`*\[\]|~])")
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# A list marker needs a space (or the end) after it, so "-0.5" and "1.000" are numbers, not lists.
_LINE_START = re.compile(r"^(\s*)([#>]|[+=-](?=\s|$|[+=-])|\d+(?=[.)](?:\s|$)))")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)((?:\\\\)*)\|")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")
# `@name` or `@org/team` where GitHub would mention it: not inside a word or an e-mail address.
_MENTION = re.compile(r"(?<![\w@`])@(?=[A-Za-z0-9])")
_SAFE_SCHEMES = ("http://", "https://")


def _one_line(text: str) -> str:
    """Newlines (and CRLF) become spaces; every other control character, a lone CR included, is shown."""
    return " ".join(visible(line) for line in _NEWLINES.split(text))


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralize_mentions(markdown: str) -> str:
    """Return Markdown in which `@user` renders as text and notifies no one (a zero-width space after the @)."""
    return _MENTION.sub("@&#8203;", markdown)


def markdown_text(value: Any) -> str:
    """Return a user's or a record's string as literal Markdown text: one line, no markup, no HTML, no mention.

    `<script>` and `<img onerror=...>` become text (`&lt;`), `|` cannot end a table cell, a newline or a CR
    cannot start a heading, `[x](javascript:...)` cannot form a link, an escape sequence is shown as `\\x1b`;
    plain names (`dora-v3`) stay as written.
    """
    text = _ENTITY.sub("&amp;", _one_line(str(value))).replace("<", "&lt;")
    text = _EDGE_UNDERSCORE.sub(r"\\_", _INLINE_MARKUP.sub(r"\\\1", text))
    text = _LINE_START.sub(
        lambda m: m.group(1) + ("\\" + m.group(2) if not m.group(2).isdigit() else m.group(2) + "\\"), text
    )
    return neutralize_mentions(text)


def markdown_code(value: Any) -> str:
    """Return `value` as an inline code span (shown verbatim, no HTML), fenced past any backticks it holds."""
    text = _one_line(str(value)).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_prose(value: Any) -> str:
    """Return `value` as `markdown_text`, but with its `backticked` spans as code spans (a command to copy).

    For sentences tunebench writes that quote a command (`tunebench plan --drop 0.05`) and may hold a record's
    strings: a backticked span becomes a verbatim code span (no HTML, link or mention can form inside one), the rest
    is escaped text.
    """
    parts = re.split(r"`([^`]+)`", _one_line(str(value)))
    return "".join(markdown_code(part) if i % 2 else markdown_text(part) for i, part in enumerate(parts) if part)


def markdown_link(label: str, target: Any) -> str:
    """Return `[label](target)` for a relative path or an http(s) URL, else `label` alone (no `javascript:`)."""
    target = _one_line(str(target)).strip()
    scheme = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target)
    if scheme and not target.lower().startswith(_SAFE_SCHEMES) or target.startswith("//"):
        return label
    return f"[{label}]({quote(target, safe='/:#?=&%~.-_')})"


def markdown_imported(text: Any) -> str:
    """Return text imported from a hand-written Markdown log: its Markdown kept, its HTML made text, one line."""
    return _html(visible(_LINE_BREAKS.sub(" ", str(text))))


def escape_cell(text: Any) -> str:
    """Return already-safe Markdown as a table cell: pipes not yet escaped are escaped, line breaks folded."""
    return _UNESCAPED_PIPE.sub(r"\\|", _LINE_BREAKS.sub(" ", str(text)))


def cut(text: str, limit: int, pointer: str) -> str:
    """Return `text` whole when it has at most `limit` characters, else its first `limit` and `pointer`
    (where the whole text is), e.g. "… (52,428,800 characters; the whole note: history show RUN)"."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters; {pointer})"
