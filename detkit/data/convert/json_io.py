"""Atomic JSON writing: a reader never sees a half-written annotation file."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from detkit.checkpoint.saving import atomic_write

__all__ = ["write_json_atomic"]


def write_json_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as JSON to ``path`` through a temporary file in the same folder and
    ``os.replace`` (:func:`detkit.checkpoint.saving.atomic_write`); on any error the temporary
    file is removed and ``path`` is left untouched.

    Returns:
        The written path.
    """
    path = Path(path)

    def write(file: io.BufferedWriter) -> None:
        # json.dumps runs the C encoder; json.dump to a file runs the pure-Python one (~5x
        # slower on a Cityscapes-val result file)
        file.write(json.dumps(obj).encode("utf-8"))

    atomic_write(str(path), write)
    return path
