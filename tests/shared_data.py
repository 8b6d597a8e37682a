"""The data shared beside the repository (``../shared``: the MMDetection 2.28 golden outputs and
the seed tutorial) and the one rule for its absence.

A test that guards parity with MMDetection never skips silently in CI: when the environment
variable ``CI`` is set (``.ci/run`` sets ``CI=true``), missing shared data fails the test; only
outside CI does it skip, with the path in the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
GOLDEN = SHARED / "golden" / "mmdet_v2_cascade_tiny"
SEED_TEXT = SHARED / "seed" / "000_faeebfa5791f5bf8.txt"


def in_ci() -> bool:
    """True when ``CI`` is set to anything but an empty string, ``0`` or ``false``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def require_shared(path: Path) -> Path:
    """``path`` when it exists; otherwise fail (in CI) or skip (elsewhere), naming it."""
    if path.exists():
        return path
    reason = f"{path} is not present (../shared beside the repository root)"
    if in_ci():
        pytest.fail(f"{reason}; a parity test may not skip in CI", pytrace=False)
    pytest.skip(reason)
