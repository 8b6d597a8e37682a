"""``CopyPaste`` (Simple Copy-Paste, Ghiasi et al., CVPR 2021) with MMDetection v2.28 semantics.

Objects of a second image (``results['mix_results'][0]``, same size, filled by
:class:`~detkit.data.datasets.MultiImageMixDataset`) are pasted over this one; the masks of
this image's objects lose the covered pixels, their boxes are recomputed from the masks, and
objects that are "totally occluded" are dropped. Polygon masks are rasterised first (mmdet
supports bitmaps only); the result holds :class:`BitmapMasks`.

Box-only input (``LoadAnnotations(with_mask=False)``, no ``gt_masks``) runs as in mmdet v2.28:
each image without masks gets one filled rectangle per box (``gen_masks_from_bboxes``:
rows ``int(y1):int(y2)``, columns ``int(x1):int(x2)``), the paste runs on those, and the
output has no ``gt_masks`` (its kept boxes are the rectangles' bounds after occlusion).
mmdet decides this with a flag that stays set on the transform once any image lacked masks;
detkit decides per call, from the two images at hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from detkit.registry import PIPELINES
from detkit.structures.masks import BitmapMasks, PolygonMasks

__all__ = ["CopyPaste"]


def _bitmaps(masks: Any) -> BitmapMasks:
    return masks.to_bitmap() if isinstance(masks, PolygonMasks) else masks


def box_masks(boxes: NDArray[Any], h: int, w: int) -> BitmapMasks:
    """One mask ``[h, w]`` per box ``[N, 4]`` (xyxy) filled on rows ``int(y1):int(y2)`` and
    columns ``int(x1):int(x2)`` with Python slicing (truncation toward zero; mmdet v2.28's
    ``CopyPaste.gen_masks_from_bboxes``); the rectangles are known, so only they are
    touched."""
    masks = np.zeros((len(boxes), h, w), dtype=np.uint8)
    rects: list[tuple[int, int, int, int] | None] = []
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes).tolist()):
        xs, ys = range(w)[int(x1) : int(x2)], range(h)[int(y1) : int(y2)]
        if len(xs) and len(ys):
            masks[i, ys.start : ys.stop, xs.start : xs.stop] = 1
            rects.append((xs.start, ys.start, xs.stop, ys.stop))
        else:
            rects.append(None)
    return BitmapMasks._with_rects(masks, h, w, rects)


def _instance_masks(results: dict[str, Any]) -> BitmapMasks:
    """The image's masks as bitmaps, or its boxes' rectangles when it has none."""
    if results.get("gt_masks") is not None:
        return _bitmaps(results["gt_masks"])
    h, w = results["img"].shape[:2]
    return box_masks(results["gt_bboxes"], h, w)


@PIPELINES.register_module()
class CopyPaste:
    """Paste a random subset of another image's objects onto this image.

    Args:
        max_num_pasted: at most this many objects are pasted.
        bbox_occluded_thr: an object is kept if every side of its recomputed box moved by at
            most this many pixels ...
        mask_occluded_thr: ... or if more than this many of its mask pixels remain.
        selected: draw a subset (else paste all objects).

    Draws: ``get_indexes``: ``randint(0, len(dataset))``; when ``selected``:
    ``randint(0, min(n + 1, max_num_pasted))`` objects, ``np.random.choice(n, k, replace=False)``.

    The numbers are mmdet's; the work is not: the union of the pasted masks, the occlusion of
    each kept mask, its new box and its area are computed only inside each mask's rectangle of
    non-zero pixels, the output stack is filled only there (no full-size copies), and the image
    is composed with one masked copy, keeping its dtype (mmdet's arithmetic with an int64 mask
    turns a uint8 image into int64 of the same values).
    """

    def __init__(
        self,
        max_num_pasted: int = 100,
        bbox_occluded_thr: int = 10,
        mask_occluded_thr: int = 300,
        selected: bool = True,
    ) -> None:
        self.max_num_pasted = max_num_pasted
        self.bbox_occluded_thr = bbox_occluded_thr
        self.mask_occluded_thr = mask_occluded_thr
        self.selected = selected

    def get_indexes(self, dataset: Any) -> int:
        return int(np.random.randint(0, len(dataset)))

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        mix = results.get("mix_results")
        if not isinstance(mix, list) or len(mix) != 1:
            raise KeyError(
                "CopyPaste needs results['mix_results'] with exactly 1 sample (wrap the dataset in "
                f"MultiImageMixDataset), got {type(mix).__name__}"
            )
        src = mix[0]
        for key in ("gt_bboxes", "gt_labels"):
            if key not in src or key not in results:
                raise KeyError(f"CopyPaste needs {key!r} in both images (LoadAnnotations)")
        inds = None
        if self.selected:
            n = src["gt_bboxes"].shape[0]
            num = np.random.randint(0, min(n + 1, self.max_num_pasted))
            inds = np.random.choice(n, size=num, replace=False)
        return self.apply(results, src, inds)

    def apply(
        self, results: dict[str, Any], src: dict[str, Any], inds: NDArray[Any] | None
    ) -> dict[str, Any]:
        """Paste the objects ``inds`` of ``src`` (all when None) onto ``results`` (no draw);
        without masks in either image, by box (the output then has no ``gt_masks``)."""
        by_box = results.get("gt_masks") is None or src.get("gt_masks") is None
        results = self._paste(results, src, inds)
        if by_box:
            results.pop("gt_masks", None)
        return results

    def _paste(
        self, results: dict[str, Any], src: dict[str, Any], inds: NDArray[Any] | None
    ) -> dict[str, Any]:
        src_all = _instance_masks(src)
        rows = np.arange(len(src_all)) if inds is None else np.asarray(inds, dtype=np.int64)
        if len(rows) == 0:
            return results
        dst_img, src_img = results["img"], src["img"]
        if dst_img.shape[:2] != src_img.shape[:2]:
            raise ValueError(
                f"CopyPaste: images differ in size {dst_img.shape[:2]} vs {src_img.shape[:2]}; "
                "resize/crop/pad both to one size before it"
            )
        h, w = dst_img.shape[:2]
        src_rects = [src_all.rects[int(r)] for r in rows]
        composed = np.zeros((h, w), dtype=bool)
        for r, rect in zip(rows, src_rects):
            if rect is not None:
                x0, y0, x1, y1 = rect
                composed[y0:y1, x0:x1] |= src_all.masks[int(r), y0:y1, x0:x1].astype(bool)

        dst_masks = _instance_masks(results)
        windows: list[NDArray[Any] | None] = []
        boxes = np.zeros((len(dst_masks), 4), dtype=np.float32)
        areas = np.zeros(len(dst_masks), dtype=np.int64)
        for i, rect in enumerate(dst_masks.rects):
            if rect is None:
                windows.append(None)
                continue
            x0, y0, x1, y1 = rect
            window = dst_masks.masks[i, y0:y1, x0:x1].copy()
            window[composed[y0:y1, x0:x1]] = 0
            windows.append(window)
            xs, ys = np.flatnonzero(window.any(axis=0)), np.flatnonzero(window.any(axis=1))
            if len(xs) and len(ys):
                boxes[i] = (x0 + xs[0], y0 + ys[0], x0 + xs[-1] + 1, y0 + ys[-1] + 1)
                areas[i] = int(np.count_nonzero(window))
        valid = np.all(np.abs(boxes - results["gt_bboxes"]) <= self.bbox_occluded_thr, axis=-1) | (
            areas > self.mask_occluded_thr
        )
        kept = np.flatnonzero(valid)

        # the output stack: zeros (lazily allocated) with each mask's rectangle filled in
        out = np.zeros((len(kept) + len(rows), h, w), dtype=np.uint8)
        out_rects: list[tuple[int, int, int, int] | None] = []
        for j, i in enumerate(kept):
            rect = dst_masks.rects[i]
            if rect is not None:
                out[j, rect[1] : rect[3], rect[0] : rect[2]] = windows[i]
            out_rects.append(rect)
        for j, (r, rect) in enumerate(zip(rows, src_rects), start=len(kept)):
            if rect is not None:
                out[j, rect[1] : rect[3], rect[0] : rect[2]] = src_all.masks[
                    int(r), rect[1] : rect[3], rect[0] : rect[2]
                ]
            out_rects.append(rect)
        img = dst_img.copy()
        np.copyto(img, src_img.astype(img.dtype, copy=False), where=composed[..., None])
        results["img"] = img
        results["gt_bboxes"] = np.concatenate([boxes[kept], src["gt_bboxes"][rows]])
        results["gt_labels"] = np.concatenate([results["gt_labels"][kept], src["gt_labels"][rows]])
        # the rectangles are BitmapMasks' own contract (loose bounds of the non-zero pixels)
        results["gt_masks"] = BitmapMasks._with_rects(out, h, w, out_rects)
        return results

    def __repr__(self) -> str:
        return (
            f"CopyPaste(max_num_pasted={self.max_num_pasted}, "
            f"bbox_occluded_thr={self.bbox_occluded_thr}, "
            f"mask_occluded_thr={self.mask_occluded_thr}, selected={self.selected})"
        )
