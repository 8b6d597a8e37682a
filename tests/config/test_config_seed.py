"""The seed tutorial config and the configs/ tree load and merge as in MMDetection v2."""

import re
from pathlib import Path

import pytest

from detkit.config import Config, compat_runner_args, resolve_work_dir

REPO = Path(__file__).resolve().parents[2]
SEED_NAME = "cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes"
SEED = REPO / "configs" / "cityscapes" / f"{SEED_NAME}.py"
SEED_URL = (
    "http://download.openmmlab.com/mmdetection/v2.0/cascade_rcnn/"
    "cascade_mask_rcnn_r50_fpn_1x_coco/cascade_mask_rcnn_r50_fpn_1x_coco_20200203-9d4dcb24.pth"
)
STAGE_STDS = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067]]


@pytest.fixture(scope="module")
def seed() -> Config:
    return Config.fromfile(SEED)


def test_seed_config_is_the_tutorial_code_block_verbatim(seed_tutorial):
    tutorial = seed_tutorial.read_text(encoding="utf-8")
    block = tutorial.split("## Prepare a config", 1)[1].split("```python\n", 1)[1]
    assert SEED.read_text(encoding="utf-8") == block.split("```", 1)[0]


def test_bases_are_the_three_tutorial_bases(seed):
    headers = [line for line in seed.text.splitlines() if re.match(r"^/.*\.py$", line)]
    assert [Path(h).relative_to(REPO / "configs").as_posix() for h in headers] == [
        "_base_/models/cascade_mask_rcnn_r50_fpn.py",
        "_base_/datasets/cityscapes_instance.py",
        "_base_/default_runtime.py",
        f"cityscapes/{SEED_NAME}.py",
    ]


def test_bbox_heads_all_have_8_classes_and_the_seed_stds(seed):
    heads = seed.model.roi_head.bbox_head
    assert len(heads) == 3
    assert [h.num_classes for h in heads] == [8, 8, 8]
    assert [h.bbox_coder.target_stds for h in heads] == STAGE_STDS
    assert all(h.reg_class_agnostic and h.loss_bbox.beta == 1.0 for h in heads)


def test_mask_head_is_merged_key_by_key(seed):
    assert seed.model.roi_head.mask_head.to_dict() == {
        "type": "FCNMaskHead",
        "num_convs": 4,
        "in_channels": 256,
        "conv_out_channels": 256,
        "num_classes": 8,
        "loss_mask": {"type": "CrossEntropyLoss", "use_mask": True, "loss_weight": 1.0},
    }


def test_model_keeps_base_parts_and_takes_the_new_neck(seed):
    model = seed.model
    assert model.type == "CascadeRCNN" and model.pretrained is None
    assert model.neck.to_dict() == {
        "type": "AugFPN",
        "in_channels": [256, 512, 1024, 2048],
        "out_channels": 256,
        "num_outs": 5,
    }
    assert model.backbone.init_cfg.checkpoint == "torchvision://resnet50"
    assert model.roi_head.stage_loss_weights == [1, 0.5, 0.25]
    assert [s.assigner.pos_iou_thr for s in model.train_cfg.rcnn] == [0.5, 0.6, 0.7]
    assert model.train_cfg.rpn_proposal.max_per_img == 2000
    assert model.test_cfg.rcnn.mask_thr_binary == 0.5


def test_data_and_pipeline(seed):
    assert seed.data.train.type == "RepeatDataset" and seed.data.train.times == 8
    assert seed.data.samples_per_gpu == 1 and seed.data.workers_per_gpu == 3
    dataset = seed.data.train.dataset
    assert dataset.ann_file == (
        "data/cityscapes/annotations/instancesonly_filtered_gtFine_train.json"
    )
    pipeline = dataset.pipeline
    assert [step.type for step in pipeline] == [
        "LoadImageFromFile",
        "LoadAnnotations",
        "AutoAugment",
        "Resize",
        "RandomFlip",
        "Normalize",
        "Pad",
        "DefaultFormatBundle",
        "Collect",
    ]
    policies = pipeline[2].policies
    assert policies[0] == [
        dict(type="Rotate", level=5, img_fill_val=(124, 116, 104), prob=0.5, scale=1)
    ]
    assert [t.type for t in policies[1]] == ["Rotate", "Translate"]
    assert seed.data.val.pipeline[1].img_scale == (2048, 1024)  # base test pipeline kept


def test_schedule_and_runtime(seed):
    assert seed.total_epochs == 10 and "runner" not in seed
    assert seed.load_from == SEED_URL
    assert seed.lr_config.step == [8] and seed.optimizer.lr == 0.01
    assert seed.evaluation.metric == ["bbox", "segm"]
    assert seed.checkpoint_config.interval == 1 and seed.log_config.interval == 50
    assert seed.custom_hooks == [dict(type="NumClassCheckHook")]


def test_legacy_total_epochs_becomes_runner(seed):
    cfg = Config(seed.to_dict(), filename=seed.filename, text=seed.text)
    with pytest.warns(UserWarning, match="legacy `total_epochs = 10`"):
        compat_runner_args(cfg)
    assert cfg.runner == dict(type="EpochBasedRunner", max_epochs=10)
    assert cfg.total_epochs == 10


def test_default_work_dir(seed):
    cfg = Config(seed.to_dict(), filename=seed.filename, text=seed.text)
    assert resolve_work_dir(cfg) == f"./work_dirs/{SEED_NAME}"
    assert cfg.work_dir == f"./work_dirs/{SEED_NAME}"


def test_cfg_options_edit_only_the_indexed_stage(seed):
    cfg = Config(seed.to_dict(), filename=seed.filename, text=seed.text)
    cfg.merge_from_dict({"model.roi_head.bbox_head.0.num_classes": 3})
    heads = cfg.model.roi_head.bbox_head
    assert [h.num_classes for h in heads] == [3, 8, 8]
    assert [h.bbox_coder.target_stds for h in heads] == STAGE_STDS
    assert seed.model.roi_head.bbox_head[0].num_classes == 8


def test_mask_rcnn_cityscapes_config():
    cfg = Config.fromfile(REPO / "configs/cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py")
    head = cfg.model.roi_head.bbox_head
    assert cfg.model.type == "MaskRCNN" and cfg.model.backbone.init_cfg is None
    assert head.num_classes == 8 and head.reg_class_agnostic is False
    assert head.loss_bbox.to_dict() == {"type": "SmoothL1Loss", "loss_weight": 1.0, "beta": 1.0}
    assert cfg.model.roi_head.mask_head.num_classes == 8
    assert cfg.lr_config.step == [7] and cfg.runner.max_epochs == 8
    assert cfg.log_config.to_dict() == {"interval": 100, "hooks": [{"type": "TextLoggerHook"}]}
    assert cfg.auto_scale_lr.to_dict() == {"enable": False, "base_batch_size": 8}
    assert cfg.model.train_cfg.rpn.allowed_border == -1


def test_faster_rcnn_is_mask_rcnn_without_mask_parts():
    base = REPO / "configs/_base_/models"
    faster = Config.fromfile(base / "faster_rcnn_r50_fpn.py").to_dict()["model"]
    mask = Config.fromfile(base / "mask_rcnn_r50_fpn.py").to_dict()["model"]
    assert faster.pop("type") == "FasterRCNN" and mask.pop("type") == "MaskRCNN"
    for key in ("mask_roi_extractor", "mask_head"):
        mask["roi_head"].pop(key)
    mask["train_cfg"]["rcnn"].pop("mask_size")
    mask["test_cfg"]["rcnn"].pop("mask_thr_binary")
    # v2.28's faster_rcnn_r50_fpn.py also turns off low-quality matching in the RCNN assigner
    assert faster["train_cfg"]["rcnn"]["assigner"].pop("match_low_quality") is False
    assert mask["train_cfg"]["rcnn"]["assigner"].pop("match_low_quality") is True
    assert faster == mask


@pytest.mark.parametrize(
    ("name", "train_type", "samples", "scale"),
    [
        ("coco_instance.py", "CocoDataset", 2, (1333, 800)),
        ("voc0712.py", "RepeatDataset", 2, (1000, 600)),
        ("cityscapes_instance.py", "RepeatDataset", 1, [(2048, 800), (2048, 1024)]),
    ],
)
def test_dataset_bases(name, train_type, samples, scale):
    cfg = Config.fromfile(REPO / "configs/_base_/datasets" / name)
    assert cfg.data.train.type == train_type and cfg.data.samples_per_gpu == samples
    assert cfg.train_pipeline[2].img_scale == scale


def test_voc_and_coco_details():
    voc = Config.fromfile(REPO / "configs/_base_/datasets/voc0712.py")
    assert voc.data.train.times == 3
    assert voc.data.train.dataset.img_prefix == [
        "data/VOCdevkit/VOC2007/",
        "data/VOCdevkit/VOC2012/",
    ]
    assert voc.data.test.ann_file == "data/VOCdevkit/VOC2007/ImageSets/Main/test.txt"
    assert voc.evaluation.metric == "mAP"
    coco = Config.fromfile(REPO / "configs/_base_/datasets/coco_instance.py")
    assert coco.data.train.img_prefix == "data/coco/train2017/"
    assert coco.data.test.ann_file == "data/coco/annotations/instances_val2017.json"


def test_schedule_1x():
    cfg = Config.fromfile(REPO / "configs/_base_/schedules/schedule_1x.py")
    assert cfg.optimizer.lr == 0.02 and cfg.lr_config.step == [8, 11]
    assert cfg.runner.to_dict() == {"type": "EpochBasedRunner", "max_epochs": 12}


def test_every_config_in_the_tree_loads():
    paths = sorted((REPO / "configs").rglob("*.py"))
    assert len(paths) >= 9
    for path in paths:
        assert len(Config.fromfile(path)) > 0, path
