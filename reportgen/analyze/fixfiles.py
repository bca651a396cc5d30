"""Every recommended fix as a file: ``fix/option-N.py`` (Django's own API, for ``python
manage.py shell < file``), ``fix/option-N.sql`` (one transaction) and ``fix/option-N.sh``
(``set -euo pipefail``), each opening with what it does, what it was verified against and how
to undo it. Text copied out of a PDF breaks where the PDF wrapped a line; a file runs as it
is. Lines are kept to what the report's code block holds (shell commands are broken between
arguments, with a continuation that still runs); a file with a longer line (a 63-byte name
in an INSERT) is named by the report, not printed.

Placeholders the responder fills in (``<PROJECT_ID>``, ``"$RESTORED_DSN"``) become shell
variables the script requires: it stops before doing anything when one is not set.
"""

from __future__ import annotations

import hashlib
import re

from reportgen.analyze.model import FixFile, RecoveryOption
from reportgen.bundle import EvidenceBundle
from reportgen.constants import CODE_WIDTH
from reportgen.quoting import hidden, shell_words, wrap_command

_PLACEHOLDER = re.compile(r"'?<([A-Za-z][A-Za-z0-9_-]*)>'?")
_VARIABLE = re.compile(r'"\$([A-Z][A-Z0-9_]*)"|\$\{([A-Z][A-Z0-9_]*)[:}]')


def with_fix_files(options: list[RecoveryOption], bundle: EvidenceBundle
                   ) -> list[RecoveryOption]:
    """The options, each with its files (numbered as the report numbers them), the one to
    run first. An option the evidence rules out gets none: nothing to run."""
    return [o if o.ruled_out else o.model_copy(update={"files": _files(n, o, bundle)})
            for n, o in enumerate(options, 1)]


def _files(n: int, o: RecoveryOption, bundle: EvidenceBundle) -> list[FixFile]:
    stem = f"fix/option-{n}"
    head = _header(n, o, bundle)
    out: list[FixFile] = []
    fw = bundle.codebase.framework if bundle.codebase is not None else "django"
    marker = {"alembic": "alembic.ini", "django": "manage.py", "sqitch": "sqitch.plan"}.get(
        fw, f"{bundle.codebase.config if bundle.codebase else 'migrations'}/")
    where = (f"the application's folder (where {marker} is): copy fix/ there, or give its path"
             if o.in_project else "any folder")
    if o.python is not None:
        name = f"{stem}.py"
        run = f"python manage.py shell < {name}"
        out.append(_file(name, run, where, _comment([*head, f"Run: {run}", f"From: {where}"],
                                                     "#") + o.python))
    shell = o.commands if o.python is None else []  # the .py is the option's commands
    if shell:
        name = f"{stem}.sh"
        at = "any folder (it works beside itself)" if o.script_file else where
        out.append(_file(name, f"bash {name}", at, _shell(
            [*head, f"Run: bash {name}", f"From: {at}"], shell, bool(o.script_file))))
    if o.script is not None:
        name = f"fix/{o.script_file}" if o.script_file else f"{stem}.sql"
        run = (f"bash {stem}.sh (it runs {name})" if o.script_file and o.commands
               else f'psql "$PRODUCTION_DSN" -X -f {name}')
        out.append(_file(name, run, "any folder", _comment(
            [*head, f"Run: {run}"], "--") + o.script + "\n"))
    return out


def _header(n: int, o: RecoveryOption, bundle: EvidenceBundle) -> list[str]:
    ident = bundle.identity
    where = (f"database {ident.current_database} on {bundle.target.host or ident.connected_host}"
             f" (system identifier {ident.system_identifier or 'unknown'})"
             if ident is not None else "the database the evidence came from")
    return [f"reportgen fix for Option {n}: {o.title}",
            f"When it applies: {o.applies_when} Data-loss risk: {o.data_loss_risk}.",
            f"Verified against: evidence bundle {bundle.digest} from {where}, collected "
            f"{bundle.collection.started_at:%Y-%m-%d %H:%M:%S} UTC. Re-assess before running it "
            "if the database changed since.",
            f"Undo: {o.undo or 'take a bundle before running it; there is no automatic undo.'}"]


def _visible(text: str) -> str:
    """Text for a comment line: names in it come from the database, and a newline (or any
    control or invisible character) in one would end the comment and start code. Each such
    character is written as an escape instead."""
    return "".join(c if not hidden(c, keep="") else
                   f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" if ord(c) < 0x10000
                   else f"\\U{ord(c):08x}" for c in text)


def _comment(lines: list[str], mark: str) -> str:
    """Comment lines, wrapped at CODE_WIDTH between words (a word longer than that stays whole:
    a comment line never breaks a name). Never two spaces in a row: text copied from a PDF
    loses them."""
    out: list[str] = []
    for line in lines:
        words, cur = [w for w in _visible(line).split(" ") if w], mark
        for w in words:
            if len(cur) + 1 + len(w) > CODE_WIDTH and cur != mark:
                out.append(cur)
                cur = f"{mark} {w}"
            else:
                cur = f"{cur} {w}"
        out.append(cur)
    return "\n".join(out) + "\n"


def _shell(head: list[str], commands: list[str], in_folder: bool) -> str:
    """A bash script: the header, strict mode, the variables it needs, then the commands."""
    # A comment stays one line: a backslash at its end would not continue it, and the next
    # line would run.
    body = [c if c.startswith("#") else " ".join(_filled(w) for w in shell_words(c))
            for c in commands]
    needed = sorted({a or b for c in body for a, b in _VARIABLE.findall(c)})
    lines = ["#!/usr/bin/env bash", _comment(head, "#").rstrip(), "set -euo pipefail"]
    lines += [f': "${{{v}:?set {v} first (see the report)}}"' for v in needed]
    if in_folder:
        lines.append('cd "$(dirname "$0")" # the script beside it, and the files it writes')
    for c in body:
        lines += [c] if c.startswith("#") else wrap_command(c, CODE_WIDTH)
    return "\n".join(lines) + "\n"


def _filled(word: str) -> str:
    """A placeholder word (``<PROJECT_ID>``, ``'<TIME>'``, ``heroku-postgresql:<PLAN>``) with
    its placeholders as the shell variables the script requires. Only unquoted words (and a
    placeholder quoted whole) are placeholders: a name from the database is always quoted
    (``<`` is not a character the shell leaves alone), so none can become a variable."""
    if word.startswith(("'", '"', "$'")) and not _PLACEHOLDER.fullmatch(word):
        return word
    return _PLACEHOLDER.sub(lambda m: '"${' + m[1].upper().replace("-", "_") + '}"', word)


def _file(name: str, run: str, where: str, content: str) -> FixFile:
    return FixFile(name=name, run=run, where=where, content=content,
                   sha256=hashlib.sha256(content.encode("utf-8")).hexdigest(),
                   shown=content.count("\n") <= SHOWN_LINES
                   and all(_copies_whole(line) for line in content.splitlines()))


#: A longer file is named by the report, not printed (a fleet of tenants' repairs: the
#: report's length stays bounded).
SHOWN_LINES = 150


def _copies_whole(line: str) -> bool:
    """A line text copied out of the PDF gives back as it is: it fits the code block (never
    wrapped) and has no leading, trailing or doubled spaces (a PDF's text loses them)."""
    return len(line) <= CODE_WIDTH and line == line.strip() and "  " not in line

