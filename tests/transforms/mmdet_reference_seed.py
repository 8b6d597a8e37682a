"""MMDetection v2.28's seed train pipeline (the Cityscapes AutoAugment config): LoadImageFromFile,
LoadAnnotations(with_mask), AutoAugment with Rotate / Translate (``auto_augment.py``), Resize,
RandomFlip, Normalize, Pad, DefaultFormatBundle, Collect (``loading.py``, ``transforms.py``,
``formatting.py``) and the ``BitmapMasks`` methods they call (``mmdet/core/mask/structures.py``),
re-stated with mmcv's image functions written out in OpenCV/NumPy as mmcv 1.7 does them: the
reference that bench/pipeline.py times detkit's pipeline against in the same run (outputs
checked equal there and in test_mmdet_reference.py)."""

import os.path as osp

import cv2
import numpy as np
import pycocotools.mask as maskUtils
import torch

from .mmdet_reference_transforms import BitmapMasks, _imrescale


def imrotate(img, angle, center, scale, border_value):
    h, w = img.shape[:2]
    matrix = cv2.getRotationMatrix2D(center, -angle, scale)
    return cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=border_value)


def imtranslate(img, offset, direction, border_value):
    h, w = img.shape[:2]
    matrix = (
        np.float32([[1, 0, offset], [0, 1, 0]])
        if direction == "horizontal"
        else np.float32([[1, 0, 0], [0, 1, offset]])
    )
    return cv2.warpAffine(img, matrix, (w, h), borderValue=border_value[:3], flags=cv2.INTER_LINEAR)


class LoadImageFromFile:
    def __call__(self, results):
        filename = osp.join(results["img_prefix"], results["img_info"]["filename"])
        with open(filename, "rb") as f:  # FileClient('disk').get
            img_bytes = f.read()
        img = cv2.imdecode(np.frombuffer(img_bytes, np.uint8), cv2.IMREAD_COLOR)
        results.update(
            filename=filename,
            ori_filename=results["img_info"]["filename"],
            img=img,
            img_shape=img.shape,
            ori_shape=img.shape,
            img_fields=["img"],
        )
        return results


class LoadAnnotations:
    """``with_bbox=True, with_label=True, with_mask=True, poly2mask=True``."""

    @staticmethod
    def _poly2mask(mask_ann, h, w):
        if isinstance(mask_ann, list):
            rle = maskUtils.merge(maskUtils.frPyObjects(mask_ann, h, w))
        elif isinstance(mask_ann["counts"], list):
            rle = maskUtils.frPyObjects(mask_ann, h, w)
        else:
            rle = mask_ann
        return maskUtils.decode(rle)

    def __call__(self, results):
        ann = results["ann_info"]
        results["gt_bboxes"] = ann["bboxes"].copy()
        if ann.get("bboxes_ignore", None) is not None:
            results["gt_bboxes_ignore"] = ann["bboxes_ignore"].copy()
            results["bbox_fields"].append("gt_bboxes_ignore")
        results["bbox_fields"].append("gt_bboxes")
        results["gt_labels"] = ann["labels"].copy()
        h, w = results["img_info"]["height"], results["img_info"]["width"]
        results["gt_masks"] = BitmapMasks([self._poly2mask(m, h, w) for m in ann["masks"]], h, w)
        results["mask_fields"].append("gt_masks")
        return results


def random_negative(value, prob):
    return -value if np.random.rand() < prob else value


def filter_invalid(results, min_size=0):
    for key in results.get("bbox_fields", []):
        w = results[key][:, 2] - results[key][:, 0]
        h = results[key][:, 3] - results[key][:, 1]
        inds = np.nonzero((w > min_size) & (h > min_size))[0]
        results[key] = results[key][inds]
        label_key = {"gt_bboxes": "gt_labels", "gt_bboxes_ignore": "gt_labels_ignore"}[key]
        mask_key = {"gt_bboxes": "gt_masks", "gt_bboxes_ignore": "gt_masks_ignore"}[key]
        if label_key in results:
            results[label_key] = results[label_key][inds]
        if mask_key in results:
            results[mask_key] = results[mask_key][inds]
    return results


class Rotate:
    def __init__(
        self,
        level,
        scale=1,
        img_fill_val=128,
        prob=0.5,
        max_rotate_angle=30,
        random_negative_prob=0.5,
    ):
        self.angle = level / 10 * max_rotate_angle
        self.scale = scale
        self.img_fill_val = tuple(float(v) for v in img_fill_val)
        self.prob, self.random_negative_prob = prob, random_negative_prob

    def __call__(self, results):
        if np.random.rand() > self.prob:
            return results
        h, w = results["img"].shape[:2]
        center = ((w - 1) * 0.5, (h - 1) * 0.5)
        angle = random_negative(self.angle, self.random_negative_prob)
        img = results["img"]
        results["img"] = imrotate(img, angle, center, self.scale, self.img_fill_val).astype(
            img.dtype
        )
        results["img_shape"] = results["img"].shape
        matrix = cv2.getRotationMatrix2D(center, -angle, self.scale)
        h, w, _ = results["img_shape"]
        for key in results.get("bbox_fields", []):
            x1, y1, x2, y2 = np.split(results[key], results[key].shape[-1], axis=-1)
            coords = np.stack([[x1, y1], [x2, y1], [x1, y2], [x2, y2]])  # [4, 2, n, 1]
            coords = np.concatenate(
                (coords, np.ones((4, 1, coords.shape[2], 1), coords.dtype)), axis=1
            )
            rotated = np.matmul(matrix, coords.transpose((2, 0, 1, 3)))[..., 0]  # [n, 4, 2]
            min_x, min_y = np.min(rotated[:, :, 0], axis=1), np.min(rotated[:, :, 1], axis=1)
            max_x, max_y = np.max(rotated[:, :, 0], axis=1), np.max(rotated[:, :, 1], axis=1)
            min_x, min_y = np.clip(min_x, a_min=0, a_max=w), np.clip(min_y, a_min=0, a_max=h)
            max_x, max_y = (
                np.clip(max_x, a_min=min_x, a_max=w),
                np.clip(max_y, a_min=min_y, a_max=h),
            )
            results[key] = np.stack([min_x, min_y, max_x, max_y], axis=-1).astype(
                results[key].dtype
            )
        for key in results.get("mask_fields", []):
            results[key] = results[key].rotate((h, w), angle, center, self.scale, 0)
        return filter_invalid(results)


class Translate:
    def __init__(
        self,
        level,
        prob=0.5,
        img_fill_val=128,
        direction="horizontal",
        max_translate_offset=250.0,
        random_negative_prob=0.5,
    ):
        self.offset = int(level / 10 * max_translate_offset)
        self.prob, self.direction, self.random_negative_prob = prob, direction, random_negative_prob
        self.img_fill_val = tuple(float(v) for v in img_fill_val)

    def __call__(self, results):
        if np.random.rand() > self.prob:
            return results
        offset = random_negative(self.offset, self.random_negative_prob)
        img = results["img"].copy()
        results["img"] = imtranslate(img, offset, self.direction, self.img_fill_val).astype(
            img.dtype
        )
        results["img_shape"] = results["img"].shape
        h, w, _ = results["img_shape"]
        for key in results.get("bbox_fields", []):
            x1, y1, x2, y2 = np.split(results[key], results[key].shape[-1], axis=-1)
            if self.direction == "horizontal":
                x1, x2 = np.maximum(0, x1 + offset), np.minimum(w, x2 + offset)
            else:
                y1, y2 = np.maximum(0, y1 + offset), np.minimum(h, y2 + offset)
            results[key] = np.concatenate([x1, y1, x2, y2], axis=-1)
        for key in results.get("mask_fields", []):
            results[key] = results[key].translate((h, w), offset, self.direction, 0)
        return filter_invalid(results)


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, results):
        for t in self.transforms:
            results = t(results)
            if results is None:
                return None
        return results


class AutoAugment:
    def __init__(self, policies):
        self.policies = [Compose(p) for p in policies]

    def __call__(self, results):
        return np.random.choice(self.policies)(results)


class Resize:
    """``img_scale`` of two scales, ``multiscale_mode='range'``, ``keep_ratio=True``."""

    def __init__(self, img_scale):
        self.img_scale = img_scale

    def __call__(self, results):
        longs, shorts = [max(s) for s in self.img_scale], [min(s) for s in self.img_scale]
        long_edge = np.random.randint(min(longs), max(longs) + 1)
        short_edge = np.random.randint(min(shorts), max(shorts) + 1)
        results["scale"], results["scale_idx"] = (long_edge, short_edge), None
        img = _imrescale(results["img"], results["scale"], cv2.INTER_LINEAR)
        new_h, new_w = img.shape[:2]
        h, w = results["img"].shape[:2]
        w_scale, h_scale = new_w / w, new_h / h
        results["img"] = img
        scale_factor = np.array([w_scale, h_scale, w_scale, h_scale], dtype=np.float32)
        results.update(
            img_shape=img.shape, pad_shape=img.shape, scale_factor=scale_factor, keep_ratio=True
        )
        for key in results.get("bbox_fields", []):
            bboxes = results[key] * results["scale_factor"]
            bboxes[:, 0::2] = np.clip(bboxes[:, 0::2], 0, img.shape[1])
            bboxes[:, 1::2] = np.clip(bboxes[:, 1::2], 0, img.shape[0])
            results[key] = bboxes
        for key in results.get("mask_fields", []):
            results[key] = results[key].rescale(results["scale"])
        return results


class RandomFlip:
    """``flip_ratio`` a float, ``direction='horizontal'``."""

    def __init__(self, flip_ratio):
        self.flip_ratio = flip_ratio

    def __call__(self, results):
        cur_dir = np.random.choice(["horizontal", None], p=[self.flip_ratio, 1 - self.flip_ratio])
        results["flip"], results["flip_direction"] = cur_dir is not None, cur_dir
        if results["flip"]:
            results["img"] = np.flip(results["img"], axis=1)
            w = results["img_shape"][1]
            for key in results.get("bbox_fields", []):
                boxes = results[key]
                flipped = boxes.copy()
                flipped[..., 0::4] = w - boxes[..., 2::4]
                flipped[..., 2::4] = w - boxes[..., 0::4]
                results[key] = flipped
            for key in results.get("mask_fields", []):
                results[key] = results[key].flip(cur_dir)
        return results


class Normalize:
    def __init__(self, mean, std, to_rgb=True):
        self.mean, self.std = np.array(mean, dtype=np.float32), np.array(std, dtype=np.float32)
        self.to_rgb = to_rgb

    def __call__(self, results):
        img = results["img"].copy().astype(np.float32)  # mmcv.imnormalize
        mean, stdinv = np.float64(self.mean.reshape(1, -1)), 1 / np.float64(self.std.reshape(1, -1))
        if self.to_rgb:
            cv2.cvtColor(img, cv2.COLOR_BGR2RGB, img)
        # mmcv passes the (1, 3) arrays, which OpenCV 4 reads as per-channel scalars; OpenCV 5
        # reads them as a matrix, so the same scalars go in as tuples here
        cv2.subtract(img, tuple(mean.ravel().tolist()), img)
        cv2.multiply(img, tuple(stdinv.ravel().tolist()), img)
        results["img"] = img
        results["img_norm_cfg"] = dict(mean=self.mean, std=self.std, to_rgb=self.to_rgb)
        return results


class Pad:
    """``size_divisor``, ``pad_val=dict(img=0, masks=0, seg=255)``."""

    def __init__(self, size_divisor):
        self.size_divisor = size_divisor

    def __call__(self, results):
        img = results["img"]
        d = self.size_divisor
        pad_h, pad_w = int(np.ceil(img.shape[0] / d)) * d, int(np.ceil(img.shape[1] / d)) * d
        results["img"] = cv2.copyMakeBorder(
            img, 0, pad_h - img.shape[0], 0, pad_w - img.shape[1], cv2.BORDER_CONSTANT, value=0
        )
        results.update(pad_shape=results["img"].shape, pad_fixed_size=None, pad_size_divisor=d)
        for key in results.get("mask_fields", []):
            results[key] = results[key].pad(results["pad_shape"][:2], pad_val=0)
        return results


class DefaultFormatBundle:
    def __call__(self, results):
        img = results["img"]
        if img.dtype == np.uint8:
            img = img.astype(np.float32)
        results.setdefault("pad_shape", img.shape)
        results.setdefault("scale_factor", 1.0)
        if not img.flags.c_contiguous:
            img = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        else:
            img = torch.from_numpy(img).permute(2, 0, 1).contiguous()
        results["img"] = img  # a DataContainer(stack=True) in mmdet: a wrapper, no work
        for key in ("proposals", "gt_bboxes", "gt_bboxes_ignore", "gt_labels"):
            if key in results:
                results[key] = torch.from_numpy(results[key])
        return results


class Collect:
    def __init__(
        self,
        keys,
        meta_keys=(
            "filename",
            "ori_filename",
            "ori_shape",
            "img_shape",
            "pad_shape",
            "scale_factor",
            "flip",
            "flip_direction",
            "img_norm_cfg",
        ),
    ):
        self.keys, self.meta_keys = keys, meta_keys

    def __call__(self, results):
        data = {"img_metas": {key: results[key] for key in self.meta_keys}}
        for key in self.keys:
            data[key] = results[key]
        return data


_BUILD = dict(
    LoadImageFromFile=LoadImageFromFile,
    LoadAnnotations=LoadAnnotations,
    AutoAugment=AutoAugment,
    Rotate=Rotate,
    Translate=Translate,
    Resize=Resize,
    RandomFlip=RandomFlip,
    Normalize=Normalize,
    Pad=Pad,
    DefaultFormatBundle=DefaultFormatBundle,
    Collect=Collect,
)


def build_seed_pipeline(cfgs):
    """The transforms of the seed config's ``train_pipeline`` dicts (only the arguments it uses)."""
    out = []
    for cfg in cfgs:
        cfg = dict(cfg)
        kind = cfg.pop("type")
        cfg.pop("with_bbox", None), cfg.pop("with_mask", None), cfg.pop("keep_ratio", None)
        if kind == "AutoAugment":
            cfg["policies"] = [
                [_BUILD[t["type"]](**{k: v for k, v in t.items() if k != "type"}) for t in p]
                for p in cfg["policies"]
            ]
        out.append(_BUILD[kind](**cfg))
    return out
