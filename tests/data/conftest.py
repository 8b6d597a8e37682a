"""Fixtures: a small generated Cityscapes-format tree and its COCO conversion (built once)."""

from pathlib import Path

import pytest

from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample


@pytest.fixture(scope="session")
def cityscapes_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cityscapes_sample")
    generate_cityscapes_sample(root, train=8, val=4, test=2, size=(256, 128), seed=3)
    return root


@pytest.fixture(scope="session")
def converted(cityscapes_root) -> Path:
    out = cityscapes_root / "annotations"
    convert_cityscapes(cityscapes_root, out, nproc=1, show_progress=False)
    return out
