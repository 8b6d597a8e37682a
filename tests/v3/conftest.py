"""Fixtures: MMDetection-3.3-style config files and a small converted Cityscapes sample."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mmdet3_tree import write_mmdet3_tree  # noqa: E402

from detkit.data.convert import convert_cityscapes  # noqa: E402
from detkit.data.synthetic import generate_cityscapes_sample  # noqa: E402


@pytest.fixture(scope="session")
def mmdet3_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out as an MMDetection 3.3 checkout: its ``configs`` folder."""
    return write_mmdet3_tree(tmp_path_factory.mktemp("mmdetection")) / "configs"


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cityscapes_sample")
    generate_cityscapes_sample(root, train=2, val=2, test=0, size=(256, 128), seed=3)
    convert_cityscapes(
        root, root / "annotations", nproc=1, show_progress=False, splits=("train", "val")
    )
    return root
