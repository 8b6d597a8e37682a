"""Writing and reading user files: every file detkit writes for a user (checkpoints, configs,
results pickles, metrics and annotation JSON, sweep records, CSV/Markdown summaries, exported
models) goes through :func:`atomic_write`, so a reader never sees a half-written file.

A write goes to a temporary file in the target's folder, is fsync'ed, then ``os.replace``'d over
the target: a process killed at any moment leaves either the old file or the new one. On any
error the temporary file is removed and the target is untouched; a full disk is reported as
``OSError(ENOSPC)`` naming the path. A bottom-layer module: it imports nothing of detkit.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "metrics.json")
>>> write_json(path, {"bbox_mAP": 0.5})
>>> read_json(path)
{'bbox_mAP': 0.5}
"""

from __future__ import annotations

import errno
import io
import json
import os
import pickle
import tempfile
from collections.abc import Callable
from typing import IO, Any

__all__ = [
    "atomic_write",
    "fsync_directory",
    "read_json",
    "read_pickle",
    "write_bytes",
    "write_json",
    "write_pickle",
    "write_text",
]

PathLike = str | os.PathLike[str]


def fsync_directory(directory: PathLike) -> None:
    """Flush a folder's entries (a rename in it) to disk; a no-op where folders cannot be
    opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_disk_full(exc: BaseException | None) -> bool:
    """ENOSPC, raised directly or wrapped (e.g. by torch's stream writer)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if isinstance(exc, RuntimeError) and "No space left" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(file)`` on a binary temporary file next to ``path``, fsync it and rename it
    over ``path`` (folders created; the file gets the usual umask mode).

    Raises:
        OSError: the disk is full (ENOSPC; the message names ``path`` and says the previous
            file is intact), or any other write error.
        Exception: whatever ``write`` raises; ``path`` is untouched.
    """
    filename = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(filename))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(filename) + ".", suffix=".tmp"
    )
    try:
        os.chmod(tmp_path, 0o666 & ~_current_umask())  # mkstemp makes 0600
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_path, filename)
    except BaseException as exc:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        if _is_disk_full(exc):
            raise OSError(
                errno.ENOSPC,
                f"no space left on device while writing {filename} (nothing was "
                "replaced: the previous file there, if any, is intact)",
                filename,
            ) from exc
        raise
    fsync_directory(directory)


def write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda file: file.write(data))


def _write_through_text(
    path: PathLike, dump: Callable[[IO[str]], object], newline: str | None = None
) -> None:
    """Stream text into an atomic write (no second copy of the text in memory)."""

    def write(file: IO[bytes]) -> None:
        text = io.TextIOWrapper(file, encoding="utf-8", newline=newline)
        dump(text)
        text.flush()
        text.detach()  # leave ``file`` open: atomic_write fsyncs and closes it

    atomic_write(path, write)


def write_text(path: PathLike, text: str, newline: str | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; ``newline`` as for ``open`` (``''`` for
    the csv module)."""
    _write_through_text(path, lambda stream: stream.write(text), newline)


def write_json(
    path: PathLike,
    obj: Any,
    indent: int | None = None,
    default: Callable[[Any], Any] | None = None,
) -> None:
    """Write ``obj`` as UTF-8 JSON to ``path`` atomically (``indent`` and ``default`` as for
    ``json.dumps``). The text is made by ``json.dumps``, whose C encoder runs without
    ``indent`` (``json.dump`` to a stream always takes the pure-Python encoder: several times
    slower on a COCO result file, docs/kernels.md).

    Raises:
        TypeError: ``obj`` holds a value JSON cannot represent (``path`` untouched).
    """
    write_bytes(path, json.dumps(obj, indent=indent, default=default).encode("utf-8"))


def write_pickle(path: PathLike, obj: Any) -> None:
    """Pickle ``obj`` to ``path`` atomically (``tools/test.py --out``)."""
    atomic_write(path, lambda file: pickle.dump(obj, file))


def read_json(path: PathLike) -> Any:
    """The JSON value in ``path``.

    Raises:
        FileNotFoundError: no file there.
        ValueError: not JSON (the message names the file and the position).
    """
    with open(path, encoding="utf-8") as file:
        try:
            return json.load(file)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{os.fspath(path)} is not valid JSON: {exc}") from exc


def read_pickle(path: PathLike) -> Any:
    """The object pickled in ``path``.

    Raises:
        FileNotFoundError: no file there.
        ValueError: not a readable pickle (the message names the file).
    """
    with open(path, "rb") as file:
        try:
            return pickle.load(file)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
            raise ValueError(f"{os.fspath(path)} is not a readable pickle: {exc}") from exc
