"""MMDetection v2.28's ``PhotoMetricDistortion``, ``RandomCrop`` and ``CopyPaste`` (v2.28.2)
(``mmdet/datasets/pipelines/transforms.py``) and the parts of its ``BitmapMasks``
(``mmdet/core/mask/structures.py``) they and the seed pipeline (mmdet_reference_seed.py) use,
re-stated with mmcv replaced by OpenCV: the reference that bench/pipeline.py times detkit's
versions against (outputs checked equal)."""

import cv2
import numpy as np
from numpy import random


def _imrescale(img, scale, interpolation):
    """mmcv ``imrescale`` (``rescale_size`` + ``imresize``, cv2 backend)."""
    h, w = img.shape[:2]
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return cv2.resize(
        img,
        (int(w * float(factor) + 0.5), int(h * float(factor) + 0.5)),
        interpolation=interpolation,
    )


def _warp_stack(masks, matrix, fill_val):
    """mmcv ``imrotate`` / ``imtranslate`` on the ``(H, W, n)`` view of a mask stack."""
    h, w = masks.shape[1:]
    fill = tuple([fill_val] * len(masks))[:3] if isinstance(fill_val, int) else fill_val
    out = cv2.warpAffine(
        masks.transpose((1, 2, 0)), matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=fill
    )
    out = out[:, :, None] if out.ndim == 2 else out
    return out.transpose((2, 0, 1)).astype(masks.dtype)


class BitmapMasks:
    """mmdet v2.28 ``BitmapMasks``: construction (``np.stack``: always a copy), indexing, and
    ``rotate``, ``translate``, ``rescale``, ``flip``, ``pad``, ``crop``, ``get_bboxes``."""

    def __init__(self, masks, height, width):
        self.height, self.width = height, width
        if len(masks) == 0:
            self.masks = np.empty((0, self.height, self.width), dtype=np.uint8)
        else:
            self.masks = np.stack(masks).reshape(-1, height, width)

    def __getitem__(self, index):
        return BitmapMasks(
            self.masks[index].reshape(-1, self.height, self.width), self.height, self.width
        )

    def __len__(self):
        return len(self.masks)

    def rotate(self, out_shape, angle, center, scale, fill_val=0):
        matrix = cv2.getRotationMatrix2D(center, -angle, scale)
        return BitmapMasks(_warp_stack(self.masks, matrix, fill_val), *out_shape)

    def translate(self, out_shape, offset, direction, fill_val=0):
        matrix = (
            np.float32([[1, 0, offset], [0, 1, 0]])
            if direction == "horizontal"
            else np.float32([[1, 0, 0], [0, 1, offset]])
        )
        return BitmapMasks(_warp_stack(self.masks, matrix, fill_val), *out_shape)

    def rescale(self, scale):
        out = np.stack([_imrescale(mask, scale, cv2.INTER_NEAREST) for mask in self.masks])
        return BitmapMasks(out, *out.shape[1:])

    def flip(self, direction="horizontal"):
        return BitmapMasks(
            np.stack([np.flip(mask, axis=1) for mask in self.masks]), self.height, self.width
        )

    def pad(self, out_shape, pad_val=0):
        out = np.stack(
            [
                cv2.copyMakeBorder(
                    m,
                    0,
                    out_shape[0] - m.shape[0],
                    0,
                    out_shape[1] - m.shape[1],
                    cv2.BORDER_CONSTANT,
                    value=pad_val,
                )
                for m in self.masks
            ]
        )
        return BitmapMasks(out, *out_shape)

    def crop(self, bbox):
        bbox = bbox.copy()
        bbox[0::2] = np.clip(bbox[0::2], 0, self.width)
        bbox[1::2] = np.clip(bbox[1::2], 0, self.height)
        x1, y1, x2, y2 = bbox
        w, h = np.maximum(x2 - x1, 1), np.maximum(y2 - y1, 1)
        if len(self.masks) == 0:
            return BitmapMasks(np.empty((0, h, w), dtype=np.uint8), h, w)
        return BitmapMasks(self.masks[:, y1 : y1 + h, x1 : x1 + w], h, w)


class MMDetPhotoMetricDistortion:
    def __init__(
        self,
        brightness_delta=32,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18,
    ):
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    def __call__(self, results):
        img = results["img"].astype(np.float32)
        if random.randint(2):
            img += random.uniform(-self.brightness_delta, self.brightness_delta)
        mode = random.randint(2)
        if mode == 1:
            if random.randint(2):
                img *= random.uniform(self.contrast_lower, self.contrast_upper)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)  # mmcv.bgr2hsv
        if random.randint(2):
            img[..., 1] *= random.uniform(self.saturation_lower, self.saturation_upper)
        if random.randint(2):
            img[..., 0] += random.uniform(-self.hue_delta, self.hue_delta)
            img[..., 0][img[..., 0] > 360] -= 360
            img[..., 0][img[..., 0] < 0] += 360
        img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)  # mmcv.hsv2bgr
        if mode == 0:
            if random.randint(2):
                img *= random.uniform(self.contrast_lower, self.contrast_upper)
        if random.randint(2):
            img = img[..., random.permutation(3)]
        results["img"] = img
        return results


class MMDetRandomCrop:
    bbox2label = {"gt_bboxes": "gt_labels", "gt_bboxes_ignore": "gt_labels_ignore"}
    bbox2mask = {"gt_bboxes": "gt_masks", "gt_bboxes_ignore": "gt_masks_ignore"}

    def __init__(
        self, crop_size, crop_type="absolute", allow_negative_crop=False, bbox_clip_border=True
    ):
        self.crop_size = crop_size
        self.crop_type = crop_type
        self.allow_negative_crop = allow_negative_crop
        self.bbox_clip_border = bbox_clip_border

    def _get_crop_size(self, image_size):
        h, w = image_size
        if self.crop_type == "absolute":
            return min(self.crop_size[0], h), min(self.crop_size[1], w)
        crop_size = np.asarray(self.crop_size, dtype=np.float32)  # relative_range
        crop_h, crop_w = crop_size + np.random.rand(2) * (1 - crop_size)
        return int(h * crop_h + 0.5), int(w * crop_w + 0.5)

    def __call__(self, results):
        crop_size = self._get_crop_size(results["img"].shape[:2])
        for key in results.get("img_fields", ["img"]):
            img = results[key]
            margin_h = max(img.shape[0] - crop_size[0], 0)
            margin_w = max(img.shape[1] - crop_size[1], 0)
            offset_h = np.random.randint(0, margin_h + 1)
            offset_w = np.random.randint(0, margin_w + 1)
            crop_y1, crop_y2 = offset_h, offset_h + crop_size[0]
            crop_x1, crop_x2 = offset_w, offset_w + crop_size[1]
            img = img[crop_y1:crop_y2, crop_x1:crop_x2, ...]
            img_shape = img.shape
            results[key] = img
        results["img_shape"] = img_shape
        for key in results.get("bbox_fields", []):
            bbox_offset = np.array([offset_w, offset_h, offset_w, offset_h], dtype=np.float32)
            bboxes = results[key] - bbox_offset
            if self.bbox_clip_border:
                bboxes[:, 0::2] = np.clip(bboxes[:, 0::2], 0, img_shape[1])
                bboxes[:, 1::2] = np.clip(bboxes[:, 1::2], 0, img_shape[0])
            valid_inds = (bboxes[:, 2] > bboxes[:, 0]) & (bboxes[:, 3] > bboxes[:, 1])
            if key == "gt_bboxes" and not valid_inds.any() and not self.allow_negative_crop:
                return None
            results[key] = bboxes[valid_inds, :]
            label_key = self.bbox2label.get(key)
            if label_key in results:
                results[label_key] = results[label_key][valid_inds]
            mask_key = self.bbox2mask.get(key)
            if mask_key in results:
                results[mask_key] = results[mask_key][valid_inds.nonzero()[0]].crop(
                    np.asarray([crop_x1, crop_y1, crop_x2, crop_y2])
                )
        for key in results.get("seg_fields", []):
            results[key] = results[key][crop_y1:crop_y2, crop_x1:crop_x2]
        return results


def mmdet_get_bboxes(masks):
    """mmdet v2.28 ``BitmapMasks.get_bboxes``."""
    num_masks = len(masks)
    boxes = np.zeros((num_masks, 4), dtype=np.float32)
    x_any = masks.any(axis=1)
    y_any = masks.any(axis=2)
    for idx in range(num_masks):
        x = np.where(x_any[idx, :])[0]
        y = np.where(y_any[idx, :])[0]
        if len(x) > 0 and len(y) > 0:
            boxes[idx, :] = np.array([x[0], y[0], x[-1] + 1, y[-1] + 1], dtype=np.float32)
    return boxes


class MMDetCopyPaste:
    """v2.28.2 ``CopyPaste``, box-only input included: ``get_gt_masks`` fills one rectangle per
    box (``gen_masks_from_bboxes``) and sets ``paste_by_box`` (which stays set on the instance),
    after which the output's ``gt_masks`` is popped."""

    def __init__(
        self, max_num_pasted=100, bbox_occluded_thr=10, mask_occluded_thr=300, selected=True
    ):
        self.max_num_pasted = max_num_pasted
        self.bbox_occluded_thr = bbox_occluded_thr
        self.mask_occluded_thr = mask_occluded_thr
        self.selected = selected
        self.paste_by_box = False

    def get_indexes(self, dataset):
        return random.randint(0, len(dataset))

    def gen_masks_from_bboxes(self, bboxes, img_shape):
        self.paste_by_box = True
        img_h, img_w = img_shape[:2]
        xmin, ymin = bboxes[:, 0:1], bboxes[:, 1:2]
        xmax, ymax = bboxes[:, 2:3], bboxes[:, 3:4]
        gt_masks = np.zeros((len(bboxes), img_h, img_w), dtype=np.uint8)
        for i in range(len(bboxes)):
            y0, y1, x0, x1 = (int(v[i, 0]) for v in (ymin, ymax, xmin, xmax))
            gt_masks[i, y0:y1, x0:x1] = 1
        return BitmapMasks(gt_masks, img_h, img_w)

    def get_gt_masks(self, results):
        if results.get("gt_masks", None) is not None:
            return results["gt_masks"]
        return self.gen_masks_from_bboxes(results.get("gt_bboxes", []), results["img"].shape)

    def __call__(self, results):
        results["gt_masks"] = self.get_gt_masks(results)
        results["mix_results"][0]["gt_masks"] = self.get_gt_masks(results["mix_results"][0])
        src = results["mix_results"][0]
        if self.selected:
            bboxes = src["gt_bboxes"]
            max_num_pasted = min(bboxes.shape[0] + 1, self.max_num_pasted)
            num_pasted = np.random.randint(0, max_num_pasted)
            inds = np.random.choice(bboxes.shape[0], size=num_pasted, replace=False)
            src = dict(
                src,
                gt_bboxes=bboxes[inds],
                gt_labels=src["gt_labels"][inds],
                gt_masks=src["gt_masks"][inds],
            )
        if len(src["gt_bboxes"]) == 0:
            if self.paste_by_box:
                results.pop("gt_masks")
            return results
        composed_mask = np.where(np.any(src["gt_masks"].masks, axis=0), 1, 0)
        updated = np.where(composed_mask, 0, results["gt_masks"].masks)
        updated_bboxes = mmdet_get_bboxes(updated)
        bboxes_inds = np.all(
            np.abs(updated_bboxes - results["gt_bboxes"]) <= self.bbox_occluded_thr, axis=-1
        )
        masks_inds = updated.sum(axis=(1, 2)) > self.mask_occluded_thr
        valid_inds = bboxes_inds | masks_inds
        img = (
            results["img"] * (1 - composed_mask[..., np.newaxis])
            + src["img"] * composed_mask[..., np.newaxis]
        )
        masks = np.concatenate([updated[valid_inds], src["gt_masks"].masks])
        results["img"] = img
        results["gt_bboxes"] = np.concatenate([updated_bboxes[valid_inds], src["gt_bboxes"]])
        results["gt_labels"] = np.concatenate([results["gt_labels"][valid_inds], src["gt_labels"]])
        if self.paste_by_box:
            results.pop("gt_masks")
        else:
            results["gt_masks"] = BitmapMasks(masks, masks.shape[1], masks.shape[2])
        return results
