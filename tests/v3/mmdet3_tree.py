"""Writes MMDetection-3.3-style config files (the layout and keys of mmdet 3.3's ``configs/``)
into a folder, for the tests. Written for detkit in its own words, not copied: each file has
the keys and values of the mmdet 3.3 file of the same path, checked by reading these with the
search tool: ``configs/_base_/default_runtime.py``, ``configs/_base_/schedules/schedule_1x.py``,
``configs/_base_/datasets/{coco_instance,coco_detection,cityscapes_instance,
cityscapes_detection}.py``, ``configs/_base_/models/{faster-rcnn,mask-rcnn,cascade-rcnn,
cascade-mask-rcnn}_r50_fpn.py`` (detkit's v2 model files plus v3's ``data_preprocessor``; v3.3
changed nothing else in them), ``configs/{faster_rcnn,mask_rcnn,cascade_rcnn}/*_r50_fpn_1x_coco.py``
and ``configs/cityscapes/{faster,mask}-rcnn_r50_fpn_1x_cityscapes.py``; pure-Python style as
``mmdet/configs/cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py`` (``read_base()``, classes
imported, ``model.merge``).
"""

from __future__ import annotations

from pathlib import Path

from detkit.config import Config

REPO = Path(__file__).resolve().parents[2]

PREPROCESSOR = dict(
    type="DetDataPreprocessor",
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32,
)

RUNTIME = """\
default_scope = 'mmdet'
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
"""

SCHEDULE_1X = """\
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11],
         gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))
auto_scale_lr = dict(enable=False, base_batch_size=16)
"""


def _dataset(
    kind: str,
    root: str,
    train_ann: str,
    val_ann: str,
    train_img: str,
    val_img: str,
    masks: bool,
    resize: str,
    repeat: bool,
    metrics: str,
) -> str:
    annotations = f"with_bbox=True, with_mask={masks}"
    train_set = (
        f"dict(type=dataset_type, data_root=data_root, ann_file='{train_ann}',\n"
        f"        data_prefix=dict(img='{train_img}'),\n"
        "        filter_cfg=dict(filter_empty_gt=True, min_size=32),\n"
        "        pipeline=train_pipeline, backend_args=backend_args)"
    )
    if repeat:
        train_set = f"dict(type='RepeatDataset', times=8, dataset={train_set})"
    return f"""\
dataset_type = '{kind}'
data_root = '{root}'
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', {annotations}),
    {resize},
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale={"(1333, 800)" if "Coco" in kind else "(2048, 1024)"},
         keep_ratio=True),
    dict(type='LoadAnnotations', {annotations}),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size={2 if "Coco" in kind else 1}, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset={train_set})
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='{val_ann}',
                 data_prefix=dict(img='{val_img}'), test_mode=True,
                 pipeline=test_pipeline, backend_args=backend_args))
test_dataloader = val_dataloader
val_evaluator = {metrics}
test_evaluator = val_evaluator
"""


def _coco(masks: bool) -> str:
    metric = "['bbox', 'segm']" if masks else "'bbox'"
    return _dataset(
        "CocoDataset",
        "data/coco/",
        "annotations/instances_train2017.json",
        "annotations/instances_val2017.json",
        "train2017/",
        "val2017/",
        masks,
        "dict(type='Resize', scale=(1333, 800), keep_ratio=True)",
        False,
        f"dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_val2017.json', "
        f"metric={metric}, format_only=False, backend_args=backend_args)",
    )


def _cityscapes(masks: bool) -> str:
    val_ann = "annotations/instancesonly_filtered_gtFine_val.json"
    coco = (
        f"dict(type='CocoMetric', ann_file=data_root + '{val_ann}', "
        f"metric={['bbox', 'segm'] if masks else 'bbox'!r})"
    )
    metrics = coco
    if masks:
        metrics = (
            f"[{coco}, dict(type='CityScapesMetric', ann_file=data_root + '{val_ann}', "
            "seg_prefix=data_root + '/gtFine/val', "
            "outfile_prefix='./work_dirs/cityscapes_metric/instance')]"
        )
    return _dataset(
        "CityscapesDataset",
        "data/cityscapes/",
        "annotations/instancesonly_filtered_gtFine_train.json",
        val_ann,
        "leftImg8bit/train/",
        "leftImg8bit/val/",
        masks,
        "dict(type='RandomResize', scale=[(2048, 800), (2048, 1024)], keep_ratio=True)",
        True,
        metrics,
    )


def _model_file(v2_name: str, drop_mask: bool = False) -> str:
    model = Config.fromfile(REPO / "configs" / "_base_" / "models" / v2_name).to_dict()["model"]
    if drop_mask:
        model["type"] = "CascadeRCNN"
        for key in ("mask_roi_extractor", "mask_head"):
            model["roi_head"].pop(key)
        for stage in model["train_cfg"]["rcnn"]:
            stage.pop("mask_size")
        model["test_cfg"]["rcnn"].pop("mask_thr_binary")
    preprocessor = dict(PREPROCESSOR, pad_mask=not drop_mask and "mask" in v2_name)
    model = {"type": model.pop("type"), "data_preprocessor": preprocessor, **model}
    return Config({"model": model}).pretty_text


_BASES = (
    "'../_base_/models/{model}.py', '../_base_/datasets/{data}.py', "
    "'../_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py'"
)
CITYSCAPES_TOP = """\
_base_ = [{bases}]
model = dict(
    backbone=dict(init_cfg=None),
    roi_head=dict(
        bbox_head=dict(type='Shared2FCBBoxHead', num_classes=8,
                       loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)){mask}))
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=8, by_epoch=True, milestones=[7], gamma=0.1)
]
train_cfg = dict(max_epochs=8)
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/{ckpt}'
"""

TOP_CONFIGS = {
    "faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py": ("faster-rcnn_r50_fpn", "coco_detection"),
    "mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py": ("mask-rcnn_r50_fpn", "coco_instance"),
    "cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py": ("cascade-rcnn_r50_fpn", "coco_detection"),
    "cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py": (
        "cascade-mask-rcnn_r50_fpn",
        "coco_instance",
    ),
}
CITYSCAPES_CONFIGS = (
    "cityscapes/faster-rcnn_r50_fpn_1x_cityscapes.py",
    "cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py",
)


PURE_MODEL_IMPORTS = """\
from mmdet.models.detectors.mask_rcnn import MaskRCNN
from torch.nn import BatchNorm2d
"""
PURE_TOP = """\
from mmengine.config import read_base

with read_base():
    from .._base_.models.mask_rcnn_r50_fpn import *
    from .._base_.datasets.cityscapes_instance import *
    from .._base_.default_runtime import *
    from .._base_.schedules.schedule_1x import *

from mmdet.models.losses import SmoothL1Loss
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmengine.optim.scheduler.lr_scheduler import LinearLR, MultiStepLR

model.merge(
    dict(
        backbone=dict(init_cfg=None),
        roi_head=dict(
            bbox_head=dict(type=Shared2FCBBoxHead, num_classes=8,
                           loss_bbox=dict(type=SmoothL1Loss, beta=1.0, loss_weight=1.0)),
            mask_head=dict(num_classes=8))))
optim_wrapper.merge(dict(optimizer=dict(lr=0.01)))
param_scheduler = [
    dict(type=LinearLR, start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type=MultiStepLR, begin=0, end=8, by_epoch=True, milestones=[7], gamma=0.1)
]
train_cfg.merge(dict(max_epochs=8))
load_from = 'https://download.openmmlab.com/mmdetection/v2.0/{ckpt}'
"""


def _write_pure_python(root: Path, files: dict[str, str]) -> None:
    """``mmdet/configs/`` (MMEngine's pure-Python style) for the Cityscapes Mask R-CNN: the
    text bases as modules (names with underscores), classes imported by name."""
    model = files["configs/_base_/models/mask-rcnn_r50_fpn.py"]
    model = model.replace("type='MaskRCNN'", "type=MaskRCNN").replace(
        "norm_cfg=dict(type='BN'", "norm_cfg=dict(type=BatchNorm2d"
    )
    pure = {
        "_base_/models/mask_rcnn_r50_fpn.py": PURE_MODEL_IMPORTS + model,
        "_base_/datasets/cityscapes_instance.py": files[
            "configs/_base_/datasets/cityscapes_instance.py"
        ],
        "_base_/default_runtime.py": RUNTIME,
        "_base_/schedules/schedule_1x.py": SCHEDULE_1X,
        "cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py": PURE_TOP.format(
            ckpt="mask_rcnn/mask_rcnn_r50_fpn_1x_coco/mask_rcnn_r50_fpn_1x_coco.pth"
        ),
    }
    for path, text in pure.items():
        (root / "mmdet/configs" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "mmdet/configs" / path).write_text(text, encoding="utf-8")


def write_mmdet3_tree(root: Path) -> Path:
    """Write the files named in the module docstring under ``root/configs`` (and the
    pure-Python ones under ``root/mmdet/configs``), as an MMDetection checkout has them;
    returns ``root``."""
    files = {
        "_base_/default_runtime.py": RUNTIME,
        "_base_/schedules/schedule_1x.py": SCHEDULE_1X,
        "_base_/datasets/coco_instance.py": _coco(True),
        "_base_/datasets/coco_detection.py": _coco(False),
        "_base_/datasets/cityscapes_instance.py": _cityscapes(True),
        "_base_/datasets/cityscapes_detection.py": _cityscapes(False),
        "_base_/models/faster-rcnn_r50_fpn.py": _model_file("faster_rcnn_r50_fpn.py"),
        "_base_/models/mask-rcnn_r50_fpn.py": _model_file("mask_rcnn_r50_fpn.py"),
        "_base_/models/cascade-mask-rcnn_r50_fpn.py": _model_file("cascade_mask_rcnn_r50_fpn.py"),
        "_base_/models/cascade-rcnn_r50_fpn.py": _model_file(
            "cascade_mask_rcnn_r50_fpn.py", drop_mask=True
        ),
    }
    for path, (model, data) in TOP_CONFIGS.items():
        files[path] = f"_base_ = [{_BASES.format(model=model, data=data)}]\n"
    files[CITYSCAPES_CONFIGS[0]] = CITYSCAPES_TOP.format(
        bases=_BASES.format(model="faster-rcnn_r50_fpn", data="cityscapes_detection"),
        mask="",
        ckpt="faster_rcnn/faster_rcnn_r50_fpn_1x_coco/faster_rcnn_r50_fpn_1x_coco.pth",
    )
    files[CITYSCAPES_CONFIGS[1]] = CITYSCAPES_TOP.format(
        bases=_BASES.format(model="mask-rcnn_r50_fpn", data="cityscapes_instance"),
        mask=",\n        mask_head=dict(num_classes=8)",
        ckpt="mask_rcnn/mask_rcnn_r50_fpn_1x_coco/mask_rcnn_r50_fpn_1x_coco.pth",
    )
    files = {f"configs/{path}": text for path, text in files.items()}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    _write_pure_python(root, files)
    return root
