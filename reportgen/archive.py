"""``docs/incidents/<YYYY-MM-DD>-<slug>/``: bundle, assessment, reports, timeline and a manifest
with the SHA-256 of every file.

An incident folder appears whole or not at all: everything is written and fsynced inside a
hidden temporary folder in the same root, which is then renamed into place (one atomic step).
An existing incident is never overwritten: a new revision is added beside it (``-r2``, ...).
A run killed midway leaves only its hidden temporary folder, removed by the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reportgen import __version__
from reportgen.analyze.model import Assessment
from reportgen.bundle import EvidenceBundle, load_bundle
from reportgen.errors import InputError, OutputError, VerificationFailed
from reportgen.fileio import write_atomic
from reportgen.options import RenderOptions
from reportgen.outputs import assessment_json, render_outputs
from reportgen.timezones import parse_tz

MANIFEST = "manifest.json"
INDEX = "README.md"
TMP_PREFIX = ".reportgen-tmp-"
MANIFEST_FORMAT = "reportgen-incident-manifest"
#: 2: "incident" is the folder's own name (-r2 included); 1 named the folder before a
#: revision suffix was added.
MANIFEST_VERSION = 2


def slugify(text: str, limit: int = 60) -> str:
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", norm.lower()).strip("-")
    return slug[:limit].rstrip("-") or "incident"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def incident_date(a: Assessment, tz: str) -> str:
    """The incident's date: the first responder event, else the collection, in its zone."""
    responder = [e.time for e in a.timeline if e.source.startswith("timeline file")]
    when = min(responder) if responder else a.collected_at
    return when.astimezone(parse_tz(tz)).strftime("%Y-%m-%d")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(root: Path) -> list[Path]:
    removed = []
    for p in root.glob(TMP_PREFIX + "*"):
        m = re.match(re.escape(TMP_PREFIX) + r"(\d+)-", p.name)
        if p.is_dir() and m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def archive_incident(bundle: EvidenceBundle, assessment: Assessment, opts: RenderOptions,
                     root: Path, *, slug: str | None = None,
                     timeline: Path | bytes | None = None,
                     baseline: EvidenceBundle | None = None,
                     template_dir: str | Path | None = None,
                     pdf_variant: str | None = None, sign_key: Path | None = None,
                     rehearsal: bytes | None = None) -> Path:
    """The incident's folder under ``root``: bundle, assessment, reports, the timeline and
    baseline given, a rehearsal's transcript (``rehearsal``, its outcome already on the
    assessment's option) and the manifest over all of them."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(root)
        tmp = root / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        tmp.mkdir()
    except OSError as exc:
        raise OutputError(f"cannot archive under {root}: {exc.strerror or exc}") from None
    name = f"{incident_date(assessment, opts.tz)}-{slugify(slug or opts.title)}"
    try:
        write_atomic(tmp / "evidence.json", bundle.to_bytes())
        write_atomic(tmp / "assessment.json", assessment_json(assessment))
        if rehearsal is not None:
            from reportgen.rehearse import TRANSCRIPT

            write_atomic(tmp / TRANSCRIPT, rehearsal)
        render_outputs(bundle, assessment, opts, tmp, ["md", "html", "pdf"], template_dir,
                       pdf_variant=pdf_variant)
        if timeline is not None:
            write_atomic(tmp / "timeline.csv", timeline if isinstance(timeline, bytes)
                         else Path(timeline).read_bytes())
        if baseline is not None:
            write_atomic(tmp / "baseline.json", baseline.to_bytes())
        def seal(folder_name: str) -> None:
            """The manifest names the folder it is placed as (verify checks it)."""
            manifest = build_manifest(tmp, bundle, assessment, opts, folder_name)
            write_atomic(tmp / MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False)
                                          + "\n").encode("utf-8"))
            if sign_key is not None:
                sign_manifest(tmp / MANIFEST, sign_key)
            _fsync_dir(tmp)

        final = _place(tmp, root, name, seal)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_index(root)
    return final


def _place(tmp: Path, root: Path, name: str, seal: Callable[[str], None]) -> Path:
    """Rename into the first free name: NAME, NAME-r2, NAME-r3, ... (never over another),
    sealed (manifest, signature) for that name first; sealed again if another archive took
    the name meanwhile."""
    for n in range(1, 1000):
        final = root / (name if n == 1 else f"{name}-r{n}")
        if os.path.lexists(final):  # a dangling symlink is taken too: never renamed over
            continue
        seal(final.name)
        try:
            os.rename(tmp, final)  # fails rather than replace a non-empty folder
        except OSError as exc:
            if os.path.lexists(final):
                continue
            raise OutputError(f"cannot archive {final}: {exc.strerror or exc}") from None
        return final
    raise OutputError(f"{root}: 999 revisions of {name} exist; choose another --slug")


def build_manifest(folder: Path, bundle: EvidenceBundle, a: Assessment, opts: RenderOptions,
                   name: str) -> dict[str, Any]:
    files = []
    for p in sorted(folder.rglob("*")):  # fix/ holds the recommended fixes
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not p.is_symlink() and rel != MANIFEST \
                and not p.name.startswith("."):
            files.append({"path": rel, "bytes": p.stat().st_size, "sha256": sha256_file(p)})
    pdf = folder / "report.pdf"
    return {
        "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "tool_version": __version__,
        "incident": name, "title": opts.title, "status": a.status, "risks": a.risks,
        "data_loss": a.data_loss, "data_loss_basis": a.data_loss_basis,
        "bundle_digest": bundle.digest, "redacted": bundle.redacted,
        "collection": {"started_at": bundle.collection.started_at.isoformat(),
                       "finished_at": bundle.collection.finished_at.isoformat()},
        "archived_at": datetime.now(UTC).isoformat(timespec="seconds"),
        # The PDF carries evidence.json inside it: verify fails if it is ever stripped.
        "embedded_bundle": pdf.is_file() and _has_embedded_bundle(pdf),
        "files": files,
    }


def _has_embedded_bundle(pdf: Path) -> bool:
    from reportgen.extract import embedded_bundle_bytes

    try:
        embedded_bundle_bytes(pdf)
    except InputError:
        return False
    return True


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, checked for shape: a malformed one fails verification (exit 7)."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{folder}: no {MANIFEST}: not a reportgen incident folder") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise VerificationFailed(f"{path}: not valid JSON ({type(exc).__name__})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise VerificationFailed(f"{path}: not a reportgen incident manifest")
    files = data.get("files")
    if not isinstance(files, list) or not all(
            isinstance(f, dict) and isinstance(f.get("path"), str)
            and isinstance(f.get("sha256"), str) and isinstance(f.get("bytes"), int)
            for f in files):
        raise VerificationFailed(f"{path}: malformed: 'files' must list path, bytes and sha256 "
                                 "for each file")
    return data


def _inside(folder: Path, name: str) -> Path | None:
    """The manifest entry's file, or None when the entry points outside the folder (an
    absolute path, '..', a symlink leading out): such an entry is refused, never hashed."""
    if not name or name.startswith("/") or "\\" in name or ".." in Path(name).parts:
        return None
    p = folder / name
    try:
        resolved = p.resolve()
    except (OSError, RuntimeError):
        return None
    return p if resolved.is_relative_to(folder.resolve()) else None


def verify_incident(folder: Path, allowed_signers: Path | None = None) -> list[str]:
    """Every problem found, one line each (empty: the folder is intact). Integrity only,
    unless ``allowed_signers`` is given: then the manifest's signature (manifest.json.sig,
    ``ssh-keygen -Y sign``) must verify against one of those keys (authenticity)."""
    manifest = read_manifest(folder)
    problems = []
    named, here = manifest.get("incident"), folder.resolve().name
    if not isinstance(named, str) or not (
            here == named or (manifest.get("version") == 1
                              and re.fullmatch(re.escape(named) + r"(-r\d+)?", here))):
        problems.append(f"{folder}: the manifest is incident {named!r}, not this folder "
                        f"({here!r}): a copy under another name; verify the original or "
                        "archive the evidence again")
    listed: set[str] = set()
    for f in manifest["files"]:
        p = _inside(folder, f["path"])
        if p is None:
            problems.append(f"{folder / f['path']}: manifest entry outside the incident folder "
                            "(refused, not read)")
            continue
        listed.add(p.relative_to(folder).as_posix())
        if not p.is_file():
            problems.append(f"{p}: missing")
        elif sha256_file(p) != f["sha256"]:
            problems.append(f"{p}: SHA-256 differs from the manifest (changed after archiving)")
        elif p.stat().st_size != f["bytes"]:
            problems.append(f"{p}: size differs from the manifest")
    own = {MANIFEST, SIGNATURE}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if rel in listed or rel in own or (p.is_dir() and not p.is_symlink()):
            continue
        problems.append(f"{p}: not in the manifest (added after archiving)")
    evidence = folder / "evidence.json"
    if evidence.is_file() and not any(str(evidence) in x for x in problems):
        try:
            b = load_bundle(evidence)
            if b.digest != manifest.get("bundle_digest"):
                problems.append(f"{evidence}: bundle digest differs from the manifest")
        except InputError as exc:
            problems.append(exc.message)
    pdf = folder / "report.pdf"
    if pdf.is_file() and evidence.is_file() and not problems:
        from reportgen.extract import embedded_bundle_bytes

        try:
            if embedded_bundle_bytes(pdf) != evidence.read_bytes():
                problems.append(f"{pdf}: the embedded evidence differs from evidence.json")
        except InputError as exc:
            if manifest.get("embedded_bundle"):
                problems.append(f"{pdf}: the manifest records an embedded evidence bundle, "
                                f"the PDF has none ({exc.message})")
    if allowed_signers is not None:
        problems += verify_signature(folder / MANIFEST, allowed_signers)
    return problems


SIGNATURE = MANIFEST + ".sig"
#: The namespace of reportgen's ssh signatures: a signature made for another purpose (git
#: commits, other files) never verifies as a manifest signature.
SIGN_NAMESPACE = "reportgen-incident-manifest"


def sign_manifest(manifest: Path, key: Path) -> Path:
    """``ssh-keygen -Y sign`` over the manifest: manifest.json.sig beside it."""
    import subprocess

    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen is None:
        raise OutputError("--sign-key needs ssh-keygen (OpenSSH 8.1 or later) on PATH")
    res = subprocess.run([ssh_keygen, "-Y", "sign", "-f", str(key), "-n", SIGN_NAMESPACE,
                          str(manifest)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    sig = manifest.with_name(SIGNATURE)
    if res.returncode != 0 or not sig.is_file():
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise OutputError(f"ssh-keygen could not sign {manifest.name} with {key}: {last}")
    return sig


def verify_signature(manifest: Path, allowed_signers: Path) -> list[str]:
    """Problems with the manifest's signature (empty: signed by an allowed key)."""
    import subprocess

    sig = manifest.with_name(SIGNATURE)
    if not sig.is_file():
        return [f"{sig}: missing (the manifest is not signed)"]
    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen is None:
        raise InputError("--allowed-signers needs ssh-keygen (OpenSSH 8.1 or later) on PATH")
    found = subprocess.run([ssh_keygen, "-Y", "find-principals", "-s", str(sig), "-f",
                            str(allowed_signers)], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
    principals = found.stdout.split()
    if found.returncode != 0 or not principals:
        return [f"{sig}: not made by any key in {allowed_signers}"]
    with manifest.open("rb") as fh:
        check = subprocess.run([ssh_keygen, "-Y", "verify", "-f", str(allowed_signers), "-I",
                                principals[0], "-n", SIGN_NAMESPACE, "-s", str(sig)],
                               stdin=fh, capture_output=True, text=True)
    if check.returncode != 0:
        return [f"{sig}: does not verify for {manifest.name} (changed after signing?)"]
    return []


def write_index(root: Path) -> Path:
    rows = []
    for d in sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                    reverse=True):
        try:
            m = read_manifest(d)
        except (InputError, VerificationFailed):
            continue
        r = m.get("risks", {})
        rows.append("| {} | [{}]({}/report.md) | {} | {} | {} | {} | {} | {} | {} |".format(
            d.name[:10], d.name, d.name, _cell(m.get("title", "")), _cell(m.get("status", "")),
            r.get("data", "?"), r.get("schema", "?"), r.get("migration", "?"),
            r.get("production", "?"), m.get("data_loss", "?")))
    text = ("# Incidents\n\nArchived by reportgen; `reportgen verify <folder>` checks a folder "
            "against its manifest.\n\n| Date | Incident | Title | Status | Data | Schema | "
            "Migration | Production | Data loss |\n|---|---|---|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")
    path = root / INDEX
    write_atomic(path, text.encode("utf-8"))
    return path


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
