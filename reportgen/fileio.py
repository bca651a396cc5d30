"""Every file appears whole (temporary name in the same directory, fsync, rename) or not at
all. Kept free of heavy imports: ``reportgen collect`` uses it."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from reportgen.errors import OutputError


def write_atomic(path: Path, data: bytes | list[bytes] | Callable[[Path], None],
                 mode: int | None = None) -> None:
    """Write bytes (or pieces of bytes, or let a writer fill a temp file) and rename it into
    place. ``mode``: the file's permissions (e.g. 0o600 for a secret); the temporary file is
    created 0600 and keeps that until it is complete, so no one else ever reads a secret
    file, even partly. Default: 0666 less the umask, as open() would make it."""
    if os.path.lexists(path) and not path.is_file():
        # Renaming over /dev/null, a FIFO or a socket would replace it with a plain file.
        raise OutputError(f"cannot write {path}: it exists and is not a regular file; "
                          "choose a file name")
    # SIGTERM and Ctrl-C are held back while the temporary file is created and named: a
    # signal between the two would leave a file nothing knows to remove. Held back, it is
    # handled as the mask is restored, inside the try below, which removes the file.
    held = _hold_signals()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        _release_signals(held)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    tmp_path = Path(tmp)
    # A large buffer: a bundle's pieces are ~1 KB each (one per relation).
    out = os.fdopen(fd, "wb", buffering=1 << 20)
    pieces = [data] if isinstance(data, bytes) else data if isinstance(data, list) else None
    try:
        _release_signals(held)
        with out as fh:
            if pieces is not None:
                fh.writelines(pieces)
                fh.flush()
                os.fsync(fh.fileno())
        if callable(data):
            data(tmp_path)
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp_path, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


_HELD = {signal.SIGINT, signal.SIGTERM}


def _hold_signals() -> set[int | signal.Signals] | None:
    """Block SIGINT and SIGTERM for this thread; the previous mask, or None where signals
    cannot be masked (not POSIX)."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)


def _release_signals(held: set[int | signal.Signals] | None) -> None:
    """Restore the mask; a signal that arrived meanwhile is delivered now."""
    if held is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
