"""Where ``mmdet::`` config paths and ``mmdet.configs`` modules are on this machine.

MMDetection 3.x configs name other configs of MMDetection by scope: ``_base_ =
'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'`` (text configs) or ``from
mmdet.configs.faster_rcnn.faster_rcnn_r50_fpn_1x_coco import *`` (pure-Python configs). detkit
reads those files from a local copy of MMDetection, found in this order:

1. ``DETKIT_MMDET_ROOT``: a checkout of the MMDetection repository (``configs/`` and
   ``mmdet/configs/`` under it);
2. an installed ``mmdet`` package (located, never imported): ``<package>/.mim/configs/`` and
   ``<package>/configs/``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["SCOPE_PREFIX", "ENV_VAR", "mmdet_config_file"]

SCOPE_PREFIX = "mmdet::"
ENV_VAR = "DETKIT_MMDET_ROOT"


def _roots(pure_python: bool) -> list[Path]:
    roots = []
    checkout = os.environ.get(ENV_VAR)
    if checkout:
        roots.append(Path(checkout) / ("mmdet/configs" if pure_python else "configs"))
    spec = importlib.util.find_spec("mmdet")
    if spec is not None and spec.submodule_search_locations:
        package = Path(list(spec.submodule_search_locations)[0])
        roots.append(package / ("configs" if pure_python else ".mim/configs"))
    return roots


def mmdet_config_file(relative: str, pure_python: bool = False) -> Path:
    """The local file of MMDetection config ``relative`` (``'faster_rcnn/x.py'``).

    Raises:
        FileNotFoundError: no local MMDetection has it (names where it looked and how to set
            ``DETKIT_MMDET_ROOT``).
    """
    roots = _roots(pure_python)
    for root in roots:
        if (root / relative).is_file():
            return root / relative
    looked = ", ".join(str(root / relative) for root in roots) or "nowhere"
    raise FileNotFoundError(
        f"MMDetection config {SCOPE_PREFIX}{relative} is not on this machine (looked in: "
        f"{looked}); set {ENV_VAR} to a checkout of the MMDetection repository"
    )
