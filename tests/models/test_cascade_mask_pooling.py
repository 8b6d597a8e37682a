"""The cascade's test-time mask heads share one RoI pooling when their extractors are one
parameter-free config, with the same detections and masks as pooling per stage."""

import copy

import numpy as np
import torch

from detkit.models import build_detector


def _meta(h, w):
    return dict(
        img_shape=(h, w, 3),
        ori_shape=(h, w, 3),
        pad_shape=(h, w, 3),
        scale_factor=np.ones(4, dtype=np.float32),
        flip=False,
    )


def _detections(model, img):
    with torch.no_grad():
        return model.predict(img, [_meta(*img.shape[2:])], rescale=True)[0]


def test_shared_mask_pooling_gives_the_per_stage_masks(tiny_cfg):
    cfg = tiny_cfg("CascadeRCNN")
    cfg["test_cfg"]["rcnn"]["score_thr"] = 0.0
    torch.manual_seed(0)
    model = build_detector(cfg).eval()
    assert model.roi_head.shared_mask_pooling
    img = torch.randn(1, 3, 64, 96)
    shared = _detections(model, img)
    model.roi_head.shared_mask_pooling = False
    per_stage = _detections(model, img)
    assert len(shared) > 0 and shared.dense_masks().any()
    assert torch.equal(shared.boxes, per_stage.boxes)
    assert torch.equal(shared.dense_masks(), per_stage.dense_masks())


def test_mask_pooling_is_per_stage_for_differing_or_learned_extractors(tiny_cfg):
    cfg = tiny_cfg("CascadeRCNN")
    extractor = cfg["roi_head"]["mask_roi_extractor"]
    differing = copy.deepcopy(cfg)
    differing["roi_head"]["mask_roi_extractor"] = [
        dict(extractor, finest_scale=s) for s in (56, 56, 28)
    ]
    assert not build_detector(differing).roi_head.shared_mask_pooling
    equal = copy.deepcopy(cfg)
    equal["roi_head"]["mask_roi_extractor"] = [dict(extractor) for _ in range(3)]
    assert build_detector(equal).roi_head.shared_mask_pooling
    learned = copy.deepcopy(cfg)
    learned["roi_head"]["mask_roi_extractor"] = dict(extractor, type="SoftRoIExtractor")
    assert not build_detector(learned).roi_head.shared_mask_pooling
