"""The demo config shrunk for tests: a 16-channel Cascade Mask R-CNN + AugFPN, as
``--cfg-options`` keys (``TINY_DEMO_OPTIONS``) usable by ``Config.merge_from_dict`` and by the
notebooks' ``cfg_options`` parameter."""

DEMO_CONFIG = "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py"
_BBOX_HEAD = dict(
    type="Shared2FCBBoxHead",
    in_channels=16,
    fc_out_channels=32,
    roi_feat_size=7,
    num_classes=8,
    reg_class_agnostic=True,
    bbox_coder=dict(
        type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]
    ),
    loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.0),
)
# 16-channel backbone outputs, neck, RPN, RoI extractors and mask head: shared by the tiny
# cascade demo below and the tiny Mask R-CNN of tests/deploy
TINY_CHANNELS_OPTIONS = {
    "model.backbone.base_channels": 16,
    "model.neck.in_channels": [16, 32, 64, 128],
    "model.neck.out_channels": 16,
    "model.rpn_head.in_channels": 16,
    "model.rpn_head.feat_channels": 16,
    "model.roi_head.bbox_roi_extractor.out_channels": 16,
    "model.roi_head.mask_roi_extractor.out_channels": 16,
    "model.roi_head.mask_head.in_channels": 16,
    "model.roi_head.mask_head.conv_out_channels": 16,
    "model.test_cfg.rcnn.score_thr": 0.0,
    "model.test_cfg.rcnn.max_per_img": 20,
}
TINY_DEMO_OPTIONS = {
    **TINY_CHANNELS_OPTIONS,
    "model.roi_head.bbox_head": [_BBOX_HEAD] * 3,
    "data.workers_per_gpu": 0,
    "log_config.interval": 1,
}
