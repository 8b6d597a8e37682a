"""Every ``configs/zoo`` config (MMDetection v2.28 backbones, necks, DCN/GN/WS, plugins on the
CPU-sized Cityscapes Mask R-CNN) builds, takes one training step and runs one test forward on
the generated Cityscapes-format sample.

The images are shrunk to 128×64 and the proposals to a few dozen so each config takes seconds;
the model is the config's own (full-width backbones and necks).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import detkit
from detkit.data import collate
from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample
from detkit.engine.model_inputs import scatter

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "zoo").glob("*.py"))
SIZE = (128, 64)


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("zoo_sample")
    generate_cityscapes_sample(root, train=2, val=1, test=0, size=SIZE, seed=3)
    convert_cityscapes(
        root, root / "annotations", nproc=1, show_progress=False, splits=("train", "val")
    )
    return root


def _config(path: Path, root: Path) -> detkit.Config:
    cfg = detkit.Config.fromfile(str(path))
    prefix = str(root) + "/"
    cfg.merge_from_dict(
        {
            "data.train.times": 1,
            "data.train.dataset.ann_file": prefix
            + "annotations/instancesonly_filtered_gtFine_train.json",
            "data.train.dataset.img_prefix": prefix + "leftImg8bit/train/",
            "data.test.ann_file": prefix + "annotations/instancesonly_filtered_gtFine_val.json",
            "data.test.img_prefix": prefix + "leftImg8bit/val/",
            "model.train_cfg.rpn_proposal.max_per_img": 50,
            "model.train_cfg.rcnn.sampler.num": 32,
            "model.test_cfg.rpn.max_per_img": 30,
            "model.test_cfg.rcnn.score_thr": 0.0,
            "model.test_cfg.rcnn.max_per_img": 10,
        }
    )
    for pipeline in (cfg.data.train.dataset.pipeline, cfg.data.test.pipeline):
        for transform in pipeline:
            if "img_scale" in transform:
                transform["img_scale"] = SIZE
    return cfg


def test_the_zoo_configs_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert "mask_rcnn_x101_32x4d_fpn_cpu_cityscapes.py" in names and len(names) >= 10


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_zoo_config_trains_one_step_and_infers(path: Path, sample_root: Path) -> None:
    cfg = _config(path, sample_root)
    detkit.set_random_seed(0)
    model = detkit.build_detector(cfg.model)
    model.init_weights()
    model.train()
    dataset = detkit.build_dataset(cfg.data.train)
    batch = scatter(collate([dataset[0], dataset[1]], samples_per_gpu=2), "cpu")
    outputs = model.train_step(batch)
    loss = outputs["loss"]
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads[-4:])
    model.eval()
    model.cfg = cfg
    model.CLASSES = dataset.CLASSES
    image = next((sample_root / "leftImg8bit" / "val").rglob("*.png"))
    boxes, masks = detkit.inference_detector(model, str(image))
    assert len(boxes) == len(masks) == 8
    assert sum(len(b) for b in boxes) <= 10


def test_a_list_of_necks_builds_in_turn_with_mmcv_keys() -> None:
    """Libra R-CNN's ``neck=[FPN, BFP]``: mmcv builds a list as ``nn.Sequential``, so the keys
    are ``neck.0.*`` / ``neck.1.*``; an empty list is refused by name."""
    cfg = detkit.Config.fromfile(str(ROOT / "configs/zoo/mask_rcnn_r50_fpn_bfp_cpu_cityscapes.py"))
    model = detkit.build_detector(cfg.model)
    keys = model.state_dict()
    assert "neck.0.lateral_convs.0.conv.weight" in keys
    assert "neck.1.refine.conv_out.conv.weight" in keys
    assert torch.all(keys["neck.1.refine.conv_out.conv.weight"] == 0)  # mmcv's identity start
    model.init_weights()
    assert torch.all(model.state_dict()["neck.1.refine.conv_out.conv.weight"] == 0)
    cfg.model.neck = []
    with pytest.raises(ValueError, match="model.neck is an empty list"):
        detkit.build_detector(cfg.model)
