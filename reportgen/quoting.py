"""Quoting for everything reportgen prints for a responder to run: shell words, SQL
identifiers and literals, pg_dump patterns, Markdown code fences.

Every name comes from a database, a log or a codebase reportgen does not trust (DESIGN.md,
"Trust"): nothing here lets a name end its quoting early, and nothing invisible is printed
raw (a bidi override or a zero-width character would make the command on screen differ from
the one pasted). Invisible characters are written as escapes that the shell or PostgreSQL
turns back into the exact name: ``$(printf '\\NNN')`` in a shell word, ``U&"\\XXXX"`` in SQL.
"""

from __future__ import annotations

import re
import shlex
import unicodedata

#: Characters printed as escapes, never raw: controls (but newline and tab, which a
#: terminal and a code block show as themselves), format characters (bidi, zero-width) and
#: the line and paragraph separators.
_INVISIBLE = ("Cc", "Cf", "Zl", "Zp")


def hidden(c: str, keep: str = "\n\t") -> bool:
    """An invisible character (the categories above), unless it is one of ``keep``."""
    return unicodedata.category(c) in _INVISIBLE and c not in keep


class Placeholder(str):
    """A word the responder replaces before running the command (``<PROJECT_ID>``), or a
    shell expansion meant to happen (``"$RESTORED_DSN"``): printed as it is."""

    __slots__ = ()


def shell_word(word: str) -> str:
    """One POSIX shell word that the shell turns back into exactly ``word``."""
    if isinstance(word, Placeholder):
        return str(word)
    if not any(hidden(c) for c in word):
        return shlex.quote(word)
    parts: list[str] = []
    run: list[str] = []
    for c in word:
        if hidden(c):
            if run:
                parts.append(shlex.quote("".join(run)))
                run = []
            octal = "".join(f"\\{b:03o}" for b in c.encode("utf-8"))
            parts.append(f"\"$(printf '{octal}')\"")
        else:
            run.append(c)
    if run:
        parts.append(shlex.quote("".join(run)))
    return "".join(parts)


def shell_command(*words: str) -> str:
    """A command line: each word quoted (Placeholders as they are)."""
    return " ".join(shell_word(w) for w in words)


def _quoted(text: str, quote: str) -> str:
    """``text`` between ``quote`` characters, the quote doubled; with PostgreSQL's Unicode
    escape form (``U&"..."`` / ``U&'...'``, backslash doubled) when it holds invisible
    characters, each written as ``\\XXXX`` or ``\\+XXXXXX``."""
    if not any(hidden(c) for c in text):
        return quote + text.replace(quote, quote * 2) + quote
    body = "".join(f"\\{ord(c):04X}" if hidden(c) and ord(c) <= 0xFFFF
                   else f"\\+{ord(c):06X}" if hidden(c)
                   else "\\\\" if c == "\\" else quote * 2 if c == quote else c for c in text)
    return f"U&{quote}{body}{quote}"


def sql_ident(name: str) -> str:
    """A quoted SQL identifier: always in double quotes (so reserved words, case and dots are
    kept), ``"`` doubled; ``U&"..."`` with escapes when the name holds invisible characters."""
    return _quoted(name, '"')


def sql_qualified(schema: str | None, name: str) -> str:
    return f"{sql_ident(schema)}.{sql_ident(name)}" if schema is not None else sql_ident(name)


def sql_literal(text: str) -> str:
    """A SQL string literal: ``'`` doubled (standard_conforming_strings, on by default since
    PostgreSQL 9.1); ``U&'...'`` with escapes when the text holds invisible characters."""
    return _quoted(text, "'")


def sql_comment(text: str) -> str:
    """A one-line SQL comment: every control, invisible or line-breaking character (newline
    included, which would end the comment and turn the rest into SQL) written as ``\\uXXXX``."""
    safe = "".join(f"\\u{ord(c):04X}" if hidden(c, keep="") else c for c in text)
    return "-- " + safe


#: The first lines of every SQL script reportgen prints, as pg_dump starts its own: psql stops
#: at the first error; every name resolves in pg_catalog only, whatever search_path the
#: database or role set and whatever a database user created in public (CVE-2018-1058);
#: string literals are standard (a backslash in one is a character, never an escape: the
#: quoting above relies on it); and row-level security policies, whose expressions are the
#: database's code, never run (a table they would filter is an error instead).
SCRIPT_HEADER = ("\\set ON_ERROR_STOP on",
                 "SELECT pg_catalog.set_config('search_path', '', false);",
                 "SET standard_conforming_strings = on;",
                 "SET row_security = off;")


def pg_dump_pattern(schema: str | None, name: str) -> str:
    """A ``pg_dump -t`` pattern that matches exactly this one table: inside double quotes,
    ``*``, ``?``, ``.`` and upper case are literal (psql's pattern rules), ``"`` is doubled.
    Without a schema it matches the table of that name visible on the search_path."""
    def quoted(part: str) -> str:
        return '"' + part.replace('"', '""') + '"'
    return f"{quoted(schema)}.{quoted(name)}" if schema is not None else quoted(name)


def python_literal(text: str) -> str:
    """A Python string literal in double quotes that reads back as exactly ``text``: printable
    ASCII as itself, everything else escaped (``\\xNN``, ``\\uNNNN``, and ``\\UNNNNNNNN``
    for a character outside the Basic Multilingual Plane, which JSON would write as a
    surrogate pair that Python reads back as two broken characters)."""
    def one(c: str) -> str:
        n = ord(c)
        if c in '"\\':
            return "\\" + c
        if 0x20 <= n < 0x7F:
            return c
        return f"\\x{n:02x}" if n <= 0xFF else f"\\u{n:04x}" if n <= 0xFFFF else f"\\U{n:08x}"
    return '"' + "".join(one(c) for c in text) + '"'


def fence(text: str, char: str = "`") -> str:
    """An opening/closing fence for a Markdown code block holding ``text``: longer than any
    run of ``char`` in it (at least three), so no line of the text can close the block."""
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", text)), default=0)
    return char * max(3, longest + 1)


def wrap_command(command: str, width: int) -> list[str]:
    """A command line broken between shell words (never inside a quoted word) into lines of
    at most ``width`` characters, each but the last ending in `` \\`` (the shell joins them
    back: copied from a PDF, it still runs); a word longer than that stays whole on a line of
    its own."""
    words = shell_words(command)
    out: list[str] = []
    cur = ""
    for w in words:
        if cur and len(cur) + 1 + len(w) + 2 > width:
            out.append(cur + " \\")
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    out.append(cur)
    return out


def shell_words(command: str) -> list[str]:
    """The command split at the spaces the shell splits it at (outside quotes), each word
    kept exactly as written."""
    words, cur, quote, escaped = [], "", "", False
    for c in command:
        if escaped:
            cur, escaped = cur + c, False
        elif c == "\\" and quote != "'":
            cur, escaped = cur + c, True
        elif quote:
            cur += c
            if c == quote:
                quote = ""
        elif c in "'\"":
            cur, quote = cur + c, c
        elif c == " ":
            if cur:
                words.append(cur)
            cur = ""
        else:
            cur += c
    if cur:
        words.append(cur)
    return words
