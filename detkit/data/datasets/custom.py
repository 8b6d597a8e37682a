"""``CustomDataset``: MMDetection v2's dataset base (``mmdet/datasets/custom.py``).

Holds ``data_infos`` (one image record per item: ``filename``, ``width``, ``height``, ...),
parses per-image annotations into ``ann_info`` (``bboxes`` ``[N, 4]`` float32 xyxy absolute
pixels, ``labels`` ``[N]`` int64 0-based, ``bboxes_ignore``, ``masks``, ``seg_map``), and
runs the pipeline on the results dict. On its own it reads mmdet's "middle format" (a JSON or
pickle list of records with an ``ann`` dict); subclasses override ``load_annotations`` and
``get_ann_info`` for COCO, Cityscapes and VOC files.
"""

from __future__ import annotations

import json
import os
import pickle
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from detkit.data.transforms.compose import Compose
from detkit.registry import DATASETS

__all__ = ["CustomDataset"]


def _join(data_root: str | None, path: str | None) -> str | None:
    if data_root is None or path is None or os.path.isabs(path):
        return path
    return os.path.join(data_root, path)


@DATASETS.register_module()
class CustomDataset(Dataset):
    """Base detection dataset.

    Args:
        ann_file: annotation file (relative paths are joined with ``data_root``).
        pipeline: transform configs or callables (see :class:`Compose`).
        classes: class names overriding ``CLASSES`` (a list/tuple, or a text file with one per
        line).
        data_root: folder that relative
        ``ann_file``/``img_prefix``/``seg_prefix``/``proposal_file`` are in.
        img_prefix: folder of the images (``filename`` is relative to it).
        seg_prefix: folder of the semantic maps (``seg_map`` is relative to it).
        seg_suffix: suffix of semantic maps (for subclasses that derive them).
        proposal_file: pickled or ``.pt`` pre-computed proposals (a list, one array per image).
        test_mode: no filtering, no group flag, items are test samples.
        filter_empty_gt: drop images without usable annotations (training only).
        min_size: drop images whose shorter side is smaller (training only).
        skip_bad_samples: in training, an item whose image or annotation cannot be read is
            replaced by another of its group and counted in ``num_skipped`` instead of raising.
        file_client_args: accepted for config compatibility (disk only).
    """

    CLASSES: tuple[str, ...] | None = None
    PALETTE: list[tuple[int, int, int]] | None = None

    def __init__(
        self,
        ann_file: str,
        pipeline: Sequence[dict | Any],
        classes: str | Sequence[str] | None = None,
        data_root: str | None = None,
        img_prefix: str | None = "",
        seg_prefix: str | None = None,
        seg_suffix: str = ".png",
        proposal_file: str | None = None,
        test_mode: bool = False,
        filter_empty_gt: bool = True,
        min_size: int = 32,
        skip_bad_samples: bool = False,
        file_client_args: dict | None = None,
    ) -> None:
        self.data_root = data_root
        self.ann_file: str = _join(data_root, ann_file) or ann_file
        self.img_prefix = _join(data_root, img_prefix)
        self.seg_prefix = _join(data_root, seg_prefix)
        self.seg_suffix = seg_suffix
        self.proposal_file = _join(data_root, proposal_file)
        self.test_mode = test_mode
        self.filter_empty_gt = filter_empty_gt
        self.min_size = min_size
        self.skip_bad_samples = skip_bad_samples
        self.num_skipped = 0
        self.CLASSES = self.get_classes(classes)
        if not os.path.isfile(self.ann_file):
            raise FileNotFoundError(
                f"{type(self).__name__}: annotation file {self.ann_file} does not exist"
            )
        self.data_infos = self.load_annotations(self.ann_file)
        self.proposals = self.load_proposals(self.proposal_file) if self.proposal_file else None
        self.filter_reasons: Counter[str] = Counter()  # why training images were dropped
        if not test_mode:
            num_images = len(self.data_infos)
            valid_inds = self._filter_imgs(min_size=min_size)
            if not valid_inds:
                raise ValueError(self._no_usable_images(num_images))
            self.data_infos = [self.data_infos[i] for i in valid_inds]
            if self.proposals is not None:
                self.proposals = [self.proposals[i] for i in valid_inds]
            self._set_group_flag()
        self.pipeline = Compose(pipeline)

    def __len__(self) -> int:
        return len(self.data_infos)

    def load_annotations(self, ann_file: str) -> list[dict[str, Any]]:
        """mmdet's "middle format": a JSON or pickle list of image records ``{filename, width,
        height, ann: {bboxes [N, 4] xyxy, labels [N], bboxes_ignore, labels_ignore}}``."""
        try:
            if ann_file.endswith((".pkl", ".pickle")):
                with open(ann_file, "rb") as f:
                    infos = pickle.load(f)
            else:
                with open(ann_file) as f:
                    infos = json.load(f)
        except (OSError, ValueError, pickle.UnpicklingError, EOFError) as exc:
            raise ValueError(f"cannot read annotation file {ann_file}: {exc}") from exc
        if not isinstance(infos, list):
            raise ValueError(
                f"{ann_file} must hold a list of image records, got {type(infos).__name__}"
            )
        for index, info in enumerate(infos):
            missing = [
                k
                for k in ("filename", "width", "height")
                if not isinstance(info, dict) or k not in info
            ]
            if missing:
                raise ValueError(f"{ann_file}: image record {index} lacks {missing}")
        return infos

    def load_proposals(self, proposal_file: str) -> list[np.ndarray]:
        import torch

        try:
            return torch.load(proposal_file, weights_only=False)
        except Exception as exc:
            raise ValueError(f"cannot load proposal file {proposal_file}: {exc}") from exc

    def get_ann_info(self, idx: int) -> dict[str, Any]:
        """Parsed annotations of item ``idx``: ``bboxes`` [N, 4] float32 xyxy, ``labels`` [N]
        int64, and ``bboxes_ignore``/``labels_ignore`` (middle format: the record's ``ann``)."""
        info = self.data_infos[idx]
        if "ann" not in info:
            raise KeyError(f"{self.ann_file}: image record {info['filename']!r} has no 'ann'")
        ann = dict(info["ann"])
        for key in ("bboxes", "bboxes_ignore"):
            if key in ann:
                ann[key] = np.asarray(ann[key], dtype=np.float32).reshape(-1, 4)
        for key in ("labels", "labels_ignore"):
            if key in ann:
                ann[key] = np.asarray(ann[key], dtype=np.int64).reshape(-1)
        return ann

    def get_cat_ids(self, idx: int) -> list[int]:
        """Label indices of the instances of item ``idx``."""
        return self.get_ann_info(idx)["labels"].astype(np.int64).tolist()

    def pre_pipeline(self, results: dict[str, Any]) -> None:
        """Add the prefixes and the empty field lists every pipeline expects."""
        results["img_prefix"] = self.img_prefix
        results["seg_prefix"] = self.seg_prefix
        results["proposal_file"] = self.proposal_file
        results["bbox_fields"] = []
        results["mask_fields"] = []
        results["seg_fields"] = []

    def _filter_imgs(self, min_size: int = 32) -> list[int]:
        """Indices of images whose shorter side is at least ``min_size`` (the others are counted
        in ``filter_reasons``)."""
        keep = [
            i
            for i, info in enumerate(self.data_infos)
            if min(info["width"], info["height"]) >= min_size
        ]
        if len(keep) < len(self.data_infos):
            self.filter_reasons[f"shorter side below min_size={min_size}"] += len(
                self.data_infos
            ) - len(keep)
        return keep

    def _no_usable_images(self, num_images: int) -> str:
        reasons = ", ".join(f"{n} with {reason}" for reason, n in self.filter_reasons.items())
        return (
            f"{type(self).__name__}: no usable training images in {self.ann_file}: {num_images} "
            "images, "
            f"all filtered out ({reasons or 'the file lists no images'}). Check `classes` against "
            "the file's "
            "categories, `filter_empty_gt` and `min_size`."
        )

    def _set_group_flag(self) -> None:
        """``flag[i] = 1`` for landscape images (width / height > 1), else 0 (GroupSampler
        groups)."""
        self.flag = np.array(
            [int(info["width"] / info["height"] > 1) for info in self.data_infos], dtype=np.uint8
        )

    def _rand_another(self, idx: int) -> int:
        pool = np.flatnonzero(self.flag == self.flag[idx])
        return int(np.random.choice(pool))

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if self.test_mode:
            return self.prepare_test_img(idx)
        while True:
            try:
                data = self.prepare_train_img(idx)
            except (FileNotFoundError, ValueError):
                if not self.skip_bad_samples:
                    raise
                self.num_skipped += 1
                data = None
            if data is None:
                idx = self._rand_another(idx)
                continue
            return data

    def prepare_train_img(self, idx: int) -> dict[str, Any] | None:
        """Run the pipeline on item ``idx`` with its annotations (None if a transform drops it)."""
        results: dict[str, Any] = {
            "img_info": self.data_infos[idx],
            "ann_info": self.get_ann_info(idx),
        }
        if self.proposals is not None:
            results["proposals"] = self.proposals[idx]
        self.pre_pipeline(results)
        return self.pipeline(results)

    def prepare_test_img(self, idx: int) -> dict[str, Any] | None:
        """Run the pipeline on item ``idx`` without annotations."""
        results: dict[str, Any] = {"img_info": self.data_infos[idx]}
        if self.proposals is not None:
            results["proposals"] = self.proposals[idx]
        self.pre_pipeline(results)
        return self.pipeline(results)

    @classmethod
    def get_classes(cls, classes: str | Sequence[str] | None = None) -> tuple[str, ...] | None:
        """``CLASSES``, or ``classes`` (names, or a text file with one name per line)."""
        if classes is None:
            return cls.CLASSES
        if isinstance(classes, str):
            if not os.path.isfile(classes):
                raise FileNotFoundError(f"classes file {classes} does not exist")
            with open(classes) as f:
                return tuple(line.strip() for line in f if line.strip())
        if isinstance(classes, (tuple, list)):
            return tuple(classes)
        raise ValueError(
            "classes must be None, a file name or a list/tuple of names, got "
            f"{type(classes).__name__}"
        )

    def __repr__(self) -> str:
        mode = "test" if self.test_mode else "train"
        return (
            f"{type(self).__name__} ({mode}): {len(self)} images, {len(self.CLASSES or ())} "
            "classes, "
            f"ann_file={self.ann_file}"
        )
