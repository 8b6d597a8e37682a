"""The seed configs' state-dict keys, in order, are those recorded before the model code was
reorganised (issue 14): checkpoints keep loading whatever moves inside detkit/models."""

import json
from pathlib import Path

import pytest
import torch

import detkit

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((Path(__file__).parent / "data" / "seed_state_dict_keys.json").read_text())


def _keys(name: str) -> list[str]:
    config = name.split("+")[0]
    cfg = detkit.Config.fromfile(str(ROOT / "configs" / "cityscapes" / f"{config}.py"))
    cfg.model.backbone.init_cfg = None
    if name.endswith("+SRS+CS"):
        cfg.model.roi_head.type = "AugFPNCascadeRoIHead"
        for branch in ("bbox_roi_extractor", "mask_roi_extractor"):
            cfg.model.roi_head[branch].type = "SoftRoIExtractor"
    torch.manual_seed(0)
    return list(detkit.build_detector(cfg.model).state_dict())


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_state_dict_keys_are_unchanged(name):
    assert _keys(name) == RECORDED[name]
