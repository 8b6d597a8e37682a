"""Inference API (MMDetection v2 ``mmdet.apis``): ``init_detector``, ``inference_detector``
and ``show_result``.

Images given as arrays are HWC uint8 **BGR** (MMDetection's convention); paths are read by the
config's test pipeline. Results are MMDetection v2 results per image:
``(bbox_results, segm_results)`` with ``bbox_results`` a list of C float32 arrays ``[n_c, 5]``
(xyxy + score, original-image pixels) and ``segm_results`` C lists of bool masks ``[H, W]``.
"""

from __future__ import annotations

import copy
import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import torch
from PIL import Image
from torch import nn

__all__ = ["init_detector", "inference_detector", "show_result", "flatten_result", "find_images", "infer_folder"]

ImageLike = str | os.PathLike | np.ndarray


def _load_config(config: Any, cfg_options: dict[str, Any] | None) -> Any:
    from detkit.config import Config

    if isinstance(config, (str, os.PathLike)):
        cfg = Config.fromfile(str(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError(f"config must be a file path or a Config, got {type(config).__name__}")
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _dataset_classes(cfg: Any) -> tuple[str, ...] | None:
    """CLASSES of ``cfg.data.test`` (its ``classes`` override, or its dataset class's)."""
    import detkit.data  # noqa: F401  (registers the datasets)
    from detkit.registry import DATASETS

    test_cfg = cfg.get("data", {}).get("test")
    if not test_cfg:
        return None
    if test_cfg.get("classes"):
        return tuple(test_cfg["classes"])
    dataset_cls = DATASETS.get(test_cfg.get("type", ""))
    return tuple(dataset_cls.CLASSES) if getattr(dataset_cls, "CLASSES", None) else None


def init_detector(
    config: Any,
    checkpoint: str | None = None,
    device: str | torch.device = "cpu",
    cfg_options: dict[str, Any] | None = None,
) -> nn.Module:
    """Build a detector for inference from a config and (optionally) a checkpoint.

    The backbone's ``init_cfg``/``pretrained`` is cleared (nothing is downloaded) and
    ``train_cfg`` dropped. ``model.CLASSES`` comes from the checkpoint's ``meta`` when
    present, else from the test dataset of the config; ``model.cfg`` keeps the config.

    Args:
        config: config file path or ``Config``.
        checkpoint: checkpoint path/URL, or None for random weights.
        device: where the model runs (``'cpu'``, ``'cuda:0'``).
        cfg_options: overrides merged into the config (``{'model.test_cfg.rcnn.score_thr': 0.3}``).

    Returns:
        The model in eval mode on ``device``.
    """
    from detkit.checkpoint import load_checkpoint
    from detkit.models import build_detector

    cfg = _load_config(config, cfg_options)
    cfg.model.pretrained = None
    if "backbone" in cfg.model:
        cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg = None
    model = build_detector(cfg.model, test_cfg=cfg.get("test_cfg"))
    classes = None
    if checkpoint is not None:
        meta = load_checkpoint(model, checkpoint, map_location="cpu").get("meta", {})
        classes = meta.get("CLASSES")
    model.CLASSES = tuple(classes) if classes else _dataset_classes(cfg)
    model.cfg = cfg
    model.to(device)
    model.eval()
    return model


class LoadImageFromArray:
    """First test transform for arrays (MMDetection's ``LoadImageFromWebcam``): takes
    ``results['img']`` (HWC uint8 BGR) and sets the fields ``LoadImageFromFile`` sets, with
    ``filename``/``ori_filename`` None."""

    def __init__(self, to_float32: bool = False) -> None:
        self.to_float32 = to_float32

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        img = results["img"]
        if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3):
            raise ValueError(f"image array must be HWC with 3 channels (BGR), got {getattr(img, 'shape', img)}")
        img = img.astype(np.float32) if self.to_float32 else img
        results.update(
            filename=None, ori_filename=None, img=img, img_shape=img.shape,
            ori_shape=img.shape, img_fields=["img"],
        )
        return results


def _test_pipeline(cfg: Any, from_arrays: bool) -> Any:
    from detkit.data.transforms import Compose

    pipeline: list[Any] = copy.deepcopy(list(cfg.data.test.pipeline))
    if from_arrays:
        first = pipeline[0]
        if first["type"] not in ("LoadImageFromFile", "LoadImageFromWebcam"):
            raise ValueError(
                "inference on arrays replaces the first test transform LoadImageFromFile, "
                f"but the config starts with {first['type']!r}"
            )
        pipeline[0] = LoadImageFromArray(to_float32=first.get("to_float32", False))
    return Compose(pipeline)


def inference_detector(
    model: nn.Module, imgs: ImageLike | Sequence[ImageLike]
) -> Any | list[Any]:
    """Run ``model`` (from :func:`init_detector`) on one image or a list of images.

    Args:
        model: a detector with ``model.cfg`` (its ``data.test.pipeline`` is used): an eager
            one from :func:`init_detector` or an exported one (``detkit.deploy.OnnxDetector``).
        imgs: a path, a HWC uint8 BGR array, or a list of them (run as one batch).

    Returns:
        The MMDetection result of the image, or a list of results for a list input.
    """
    from detkit.data import collate

    batched = isinstance(imgs, (list, tuple))
    images = list(imgs) if batched else [imgs]
    if not images:
        raise ValueError("inference_detector got an empty list of images")
    from_arrays = isinstance(images[0], np.ndarray)
    if any(isinstance(img, np.ndarray) != from_arrays for img in images):
        raise TypeError("imgs must be all paths or all arrays, not a mix")
    pipeline = _test_pipeline(model.cfg, from_arrays)
    samples = []
    for img in images:
        if from_arrays:
            sample = dict(img=img)
        else:
            if not osp.isfile(img):
                raise FileNotFoundError(f"image not found: {img}")
            sample = dict(img_info=dict(filename=str(img)), img_prefix=None)
        samples.append(pipeline(sample))
    batch = collate(samples)
    # an exported detector (detkit.deploy) has no parameters but names its device
    device = getattr(model, "device", None) or next(model.parameters()).device
    batch = _to_device(batch, device)
    with torch.no_grad():
        results = model(return_loss=False, rescale=True, **batch)
    return results if batched else results[0]


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        return {k: _to_device(v, device) if k != "img_metas" else v for k, v in value.items()}
    return value


def flatten_result(
    result: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """MMDetection per-class result -> ``(bboxes [N, 4], scores [N], labels [N], masks)``.

    ``masks`` is a bool array ``[N, H, W]`` (RLE dicts decoded) or None for box-only results.
    """
    bbox_results, segm_results = result if isinstance(result, tuple) else (result, None)
    if isinstance(segm_results, tuple):
        segm_results = segm_results[0]
    rows = [np.asarray(b, np.float32).reshape(-1, 5) for b in bbox_results]
    stacked = np.concatenate(rows) if rows else np.zeros((0, 5), np.float32)
    labels = np.concatenate([np.full(len(r), c, np.int64) for c, r in enumerate(rows)]) if rows else np.zeros(0, np.int64)
    masks = None
    if segm_results is not None:
        flat = [m for per_class in segm_results for m in per_class]
        decoded = [mask_util.decode(m).astype(bool) if isinstance(m, dict) else np.asarray(m, bool) for m in flat]
        masks = np.stack(decoded) if decoded else None
    return stacked[:, :4], stacked[:, 4], labels, masks


def _read_rgb(img: ImageLike) -> np.ndarray:
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"image array must be HWC with 3 channels (BGR), got {img.shape}")
        return np.ascontiguousarray(img[:, :, ::-1])
    if not osp.isfile(img):
        raise FileNotFoundError(f"image not found: {img}")
    return np.asarray(Image.open(img).convert("RGB"))


def show_result(
    img: ImageLike,
    result: Any,
    class_names: Sequence[str] | None = None,
    score_thr: float = 0.3,
    out_file: str | None = None,
    show: bool = False,
    ax: Any = None,
) -> np.ndarray:
    """Draw a result on its image with matplotlib (boxes, mask overlays, class + score).

    Args:
        img: image path or HWC uint8 BGR array.
        result: MMDetection result of the image (masks as arrays or RLE).
        class_names: name per label (default: label indices).
        score_thr: detections scoring below it are not drawn.
        out_file: save the drawing there (folders created).
        show: display the figure (``plt.show``).
        ax: draw into this matplotlib Axes instead of a new figure.

    Returns:
        The drawing as an HWC uint8 RGB array at the image's size.
    """
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from detkit.viz import draw_instances

    image = _read_rgb(img)
    bboxes, scores, labels, masks = flatten_result(result)
    keep = scores >= score_thr
    height, width = image.shape[:2]
    dpi = 100
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    target = figure.add_axes((0, 0, 1, 1))
    for axes in (target, ax) if ax is not None else (target,):
        draw_instances(
            axes, image, bboxes[keep], labels[keep],
            masks=masks[keep] if masks is not None else None,
            scores=scores[keep], class_names=class_names,
        )
        axes.set_axis_off()
    canvas.draw()
    drawn = np.asarray(canvas.buffer_rgba())[:, :, :3].copy()
    if out_file:
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        Image.fromarray(drawn).save(out_file)
    if show:
        plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
        plt.imshow(drawn)
        plt.axis("off")
        plt.show()
    return drawn


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def find_images(path: str) -> list[str]:
    """An image file, or every image under a folder (recursive, sorted)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f"no image file or folder at {path}")
    found = sorted(
        osp.join(root, name)
        for root, _, names in os.walk(path)
        for name in names
        if name.lower().endswith(IMAGE_SUFFIXES)
    )
    if not found:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {path}")
    return found


def infer_folder(
    model: nn.Module, images: str, out_dir: str, score_thr: float = 0.3, batch_size: int = 1
) -> str:
    """Run ``model`` on an image or a folder of images; draw each result into ``out_dir``
    (same relative paths) and write ``out_dir/detections.json``; returns its path.

    JSON: a list of ``{"file", "detections": [{"label", "class", "score", "bbox"}]}`` with
    ``bbox`` xyxy in original-image pixels; detections below ``score_thr`` are left out.
    """
    import json

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    files = find_images(images)
    root = images if osp.isdir(images) else osp.dirname(images)
    class_names = getattr(model, "CLASSES", None)
    records = []
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        for file, result in zip(chunk, inference_detector(model, chunk)):
            relative = osp.relpath(file, root)
            show_result(file, result, class_names, score_thr, out_file=osp.join(out_dir, relative))
            bboxes, scores, labels, _ = flatten_result(result)
            keep = scores >= score_thr
            detections = [
                {
                    "label": int(label),
                    "class": class_names[label] if class_names else str(int(label)),
                    "score": round(float(score), 5),
                    "bbox": [round(float(v), 2) for v in box],
                }
                for box, score, label in zip(bboxes[keep], scores[keep], labels[keep])
            ]
            records.append(dict(file=relative, detections=detections))
    os.makedirs(out_dir, exist_ok=True)
    json_file = osp.join(out_dir, "detections.json")
    with open(json_file, "w") as f:
        json.dump(records, f, indent=1)
    return json_file
