# Fixture: a small model base (a dict with nested dicts and a list of dicts).
import os.path as osp  # modules never become config keys


def helper(x):  # functions never become config keys
    return x


model = dict(
    type="ToyDetector",
    backbone=dict(type="ToyBackbone", depth=18, out_indices=(0, 1, 2, 3)),
    neck=dict(type="FPN", in_channels=[64, 128], out_channels=32, num_outs=helper(3)),
    heads=[dict(type="Head", num_classes=80), dict(type="Head", num_classes=80)],
    test_cfg=dict(score_thr=0.05, nms=dict(type="nms", iou_threshold=0.5)),
)
image_size = (64, 48)
base_name = osp.basename("a/b")
__private = "never a key"
