"""One atomic writer for files and folders: temporary beside the target, renamed into place, never half-way.

An input is never replaced, whatever ``overwrite`` says; an existing output only with ``overwrite``.
The temporary file or folder is removed when the work fails, and also when the process is stopped by
SIGTERM, SIGINT or SIGHUP.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path

from ..errors import LayerNotFoundError, OutputExistsError

__all__ = ["atomic_output", "temporary_folder", "check_output", "is_url", "same_file"]

_PENDING: set[Path] = set()
_HANDLED: dict[int, object] = {}


def is_url(value) -> bool:
    """True for ``scheme://…`` sources (a database, a web service), which are no local paths."""
    text = str(value)
    head, sep, _ = text.partition("://")
    return bool(sep) and head.replace("+", "").replace("-", "").replace(".", "").isalnum() and len(head) > 1


def same_file(a, b) -> bool:
    if a is None or b is None or is_url(a) or is_url(b):
        return str(a) == str(b)
    try:
        pa, pb = Path(a), Path(b)
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
        return pa.resolve() == pb.resolve()
    except OSError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        with contextlib.suppress(OSError):
            path.unlink()


def _on_signal(signum, frame):  # pragma: no cover - exercised in a subprocess test
    for p in list(_PENDING):
        _remove(p)
    previous = _HANDLED.get(signum)
    if callable(previous) and previous not in (signal.SIG_DFL, signal.SIG_IGN):
        previous(signum, frame)
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)):
        if sig is None or sig in _HANDLED:
            continue
        try:
            _HANDLED[sig] = signal.getsignal(sig)
            signal.signal(sig, _on_signal)
        except (ValueError, OSError):  # not allowed here
            _HANDLED.pop(sig, None)


def check_output(path, *, overwrite: bool = False, inputs: Iterable = ()) -> Path:
    """Refuse an output that is an input (always) or exists (unless ``overwrite``); return it as a Path."""
    path = Path(path)
    for src in inputs:
        if src is not None and same_file(src, path):
            raise OutputExistsError(f"refusing to overwrite the input {path}: choose another output name")
        # a shapefile's or folder's parts are inputs too
        if src is not None and not is_url(src) and Path(src).is_dir() and _inside(path, Path(src)):
            raise OutputExistsError(f"refusing to write {path} inside the input folder {src}")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists", setting="overwrite")
    return path


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False, inputs: Iterable = (), directory: bool = False,
                  make_parents: bool = False):
    """Yield a temporary path (a file, or with ``directory`` a new empty folder) beside ``path``.

    On success it is renamed into place (an existing output, only with ``overwrite``, is replaced as
    late as possible); on failure or a stopping signal it is removed. ``inputs`` are never replaced.
    With ``make_parents`` a missing parent folder is created; otherwise it is an error.
    """
    path = check_output(path, overwrite=overwrite, inputs=inputs)
    if not path.parent.exists():
        if not make_parents:
            raise LayerNotFoundError(f"the folder {path.parent} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = path.with_name(f".{path.stem}.tmp-{tag}{path.suffix}")
    _install_handlers()
    _PENDING.add(tmp)
    try:
        if directory:
            tmp.mkdir()
        yield tmp
        if directory:
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old-{tag}")
                _PENDING.add(old)
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                _remove(old)
                _PENDING.discard(old)
        else:
            if path.is_dir():
                raise OutputExistsError(f"{path} is a folder, not a file: choose another name")
            os.replace(tmp, path)
    finally:
        _remove(tmp) if tmp.exists() else None
        _PENDING.discard(tmp)


@contextlib.contextmanager
def temporary_folder(beside: Path):
    """A temporary folder beside ``beside`` (same file system, so parts can be renamed into place),
    removed at the end, on failure and on a stopping signal."""
    beside = Path(beside)
    tmp = beside.with_name(f".{beside.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    _install_handlers()
    _PENDING.add(tmp)
    try:
        tmp.mkdir()
        yield tmp
    finally:
        _remove(tmp)
        _PENDING.discard(tmp)
