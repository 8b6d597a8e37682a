"""Is a file a complete PyTorch checkpoint? Cheap structural checks run before ``torch.load`` so
that a text file, an empty or truncated ``.pth`` or a zip of something else is reported by name
with what is wrong, instead of an error from inside pickle or the zip reader.

Also: the names of non-finite tensors of a state dict (checked at save and at load).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping

import torch

__all__ = ["CheckpointError", "checkpoint_problem", "check_checkpoint_file", "non_finite_tensors"]

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"  # torch's legacy (pre-1.6) format starts with a pickle PROTO opcode


class CheckpointError(ValueError):
    """A file that is not a (complete) PyTorch checkpoint; the message names the file."""


def checkpoint_problem(path: str) -> str | None:
    """What is wrong with ``path`` as a PyTorch checkpoint, or None if it looks complete.

    Checked: the file is non-empty, starts like a torch zip archive (or the legacy pickle
    format), the zip's end record is present (a cut-off download or a killed copy loses it),
    the archive holds a ``data.pkl`` (``torch.save`` writes one; a zip of something else does
    not) and every record matches its CRC-32 (bytes changed inside the file, the size unchanged:
    a disk, memory or transfer error). The CRC pass reads the file once more than ``torch.load``.
    """
    size = os.path.getsize(path)
    if size == 0:
        return "not a PyTorch checkpoint: the file is empty (0 bytes)"
    with open(path, "rb") as file:
        head = file.read(16)
    if head.startswith(_PICKLE_PROTO):
        return None
    if not head.startswith(_ZIP_MAGIC):
        kind = "a text file" if _looks_like_text(head) else "an unknown binary format"
        return (
            f"not a PyTorch checkpoint: it starts with {head!r} ({kind}; torch.save writes a "
            "zip archive)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return (
            f"not a complete checkpoint: truncated at byte {size} (a zip archive whose end record "
            "is "
            "missing, e.g. a cut-off download or copy, or a save interrupted outside detkit)"
        )
    if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return (
            "not a PyTorch checkpoint: a zip archive without data.pkl "
            f"(it holds {shown or 'nothing'})"
        )
    corrupt = _corrupt_record(path)
    if corrupt is not None:
        return (
            f"corrupt checkpoint: record {corrupt!r} fails its CRC-32 check (bytes changed inside "
            "the file, e.g. a disk or transfer error; the size is unchanged, so it is not a "
            "cut-off copy)"
        )
    return None


def _corrupt_record(path: str, chunk: int = 1 << 20) -> str | None:
    """The first record of the zip at ``path`` whose bytes do not match its CRC-32, or None.
    Records saved without a checksum (CRC 0, torch's ``compute_crc32=False``) are skipped."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.CRC == 0 and info.file_size:
                continue
            try:
                with archive.open(info) as record:
                    while record.read(chunk):
                        pass
            except (zipfile.BadZipFile, EOFError):
                return info.filename
    return None


def check_checkpoint_file(path: str) -> None:
    """Raise :class:`CheckpointError` naming ``path`` if :func:`checkpoint_problem` finds one."""
    problem = checkpoint_problem(path)
    if problem is not None:
        raise CheckpointError(f"checkpoint file {path}: {problem}")


def non_finite_tensors(state_dict: Mapping[str, object], limit: int = 8) -> list[str]:
    """Keys of floating-point tensors in ``state_dict`` holding NaN or inf (at most ``limit``)."""
    found: list[str] = []
    for key, value in state_dict.items():
        if (
            isinstance(value, torch.Tensor)
            and value.is_floating_point()
            and not bool(torch.isfinite(value).all())
        ):
            found.append(key)
            if len(found) >= limit:
                break
    return found


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(32 <= byte or byte in (9, 10, 13) for byte in head)
