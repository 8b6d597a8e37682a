"""detkit / MMDetection v2 pipelines, datasets and evaluation -> MMDetection 3.x's (the
converter's v2 -> v3 direction; :mod:`.pipelines` and :mod:`.data` are the other way).

A v2 train pipeline's ``Normalize``/``Pad`` move into ``model.data_preprocessor``,
``DefaultFormatBundle`` + ``Collect`` become ``PackDetInputs``, a test ``MultiScaleFlipAug``
with one scale and no flip becomes ``Resize(scale)`` + ``PackDetInputs``. v2 transforms with no
v3 equivalent (v2's ``Rotate``/``Translate``/``Shear`` draw their sign the other way round,
use other magnitudes and drop emptied boxes) are written as ``detkit.<name>`` (detkit runs them
with v2 semantics; mmdet 3 cannot) and the report gives the nearest v3 transform;
``v3_native=True`` writes that nearest transform instead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from detkit.config.v3.common import V3_SCOPE, Context, plain, type_name

__all__ = ["pipeline_to_v3", "dataset_to_v3", "evaluation_to_v3", "read_preprocessor"]

Transform = dict[str, Any]
_TEST_META_KEYS = ("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")
_SAME = ("LoadImageFromFile", "LoadAnnotations", "FilterAnnotations")


def read_preprocessor(pipeline: Any, masks: bool) -> dict[str, Any] | None:
    """v3's ``DetDataPreprocessor`` for the ``Normalize``/``Pad`` of a v2 train pipeline."""
    pre: dict[str, Any] = {"type": "DetDataPreprocessor"}
    for t in plain(list(pipeline or [])):
        if t.get("type") == "Normalize":
            pre.update(mean=t["mean"], std=t["std"], bgr_to_rgb=bool(t.get("to_rgb", True)))
        elif t.get("type") == "Pad" and t.get("size_divisor"):
            pre["pad_size_divisor"] = t["size_divisor"]
    if len(pre) == 1:
        return None
    pre["pad_mask"] = masks
    return pre


def _nearest_v3(name: str, t: Transform) -> Transform:
    level = float(t.get("level", 0))
    out: Transform = {"prob": t.get("prob", 0.5), "level": int(level)}
    out["img_border_value"] = t.get("img_fill_val", 128)
    out["reversal_prob"] = 1.0 - float(t.get("random_negative_prob", 0.5))
    if name == "Rotate":
        out.update(type="Rotate", max_mag=float(t.get("max_rotate_angle", 30)))
    elif name == "Shear":
        degrees = math.degrees(math.atan(float(t.get("max_shear_magnitude", 0.3))))
        axis = "X" if t.get("direction", "horizontal") == "horizontal" else "Y"
        out.update(type=f"Shear{axis}", max_mag=round(degrees, 4))
    else:
        axis = "X" if t.get("direction", "horizontal") == "horizontal" else "Y"
        out.update(type=f"Translate{axis}", max_mag=0.1)
    return out


def _transform(t: Transform, ctx: Context, key: str, native: bool) -> list[Transform]:
    name = type_name(t.pop("type"))
    if name.startswith(V3_SCOPE):
        return [dict(type=name[len(V3_SCOPE) :], **t)]
    if name in _SAME:
        t.pop("file_client_args", None)
        return [dict(type=name, **t)]
    if name == "Resize":
        return [_resize(t, ctx, key)]
    if name == "RandomFlip":
        out: Transform = {"type": "RandomFlip", "prob": t.pop("flip_ratio", None)}
        out.update(t)
        return [out]
    if name == "AutoAugment":
        policies = [
            [
                step
                for j, inner in enumerate(policy)
                for step in _transform(dict(inner), ctx, f"{key}.policies.{i}.{j}", native)
            ]
            for i, policy in enumerate(t.pop("policies"))
        ]
        return [dict(type="AutoAugment", policies=policies, **t)]
    if name in ("Rotate", "Translate", "Shear"):
        nearest = _nearest_v3(name, t)
        why = (
            f"v2 {name} has no exact v3 equivalent (v3 negates on the other side of the draw, "
            "rounds magnitudes, keeps emptied boxes"
            + (", offsets by a fraction of the image" if name == "Translate" else "")
            + f"); nearest v3: {nearest}"
        )
        ctx.report.add("approximate", key, why)
        return [nearest] if native else [dict(type=f"detkit.{name}", **t)]
    ctx.report.add("approximate", key, f"{name}: passed on by name; check its v3 arguments")
    return [dict(type=name, **t)]


def _resize(t: Transform, ctx: Context, key: str) -> Transform:
    common: Transform = {"keep_ratio": t.pop("keep_ratio", True)}
    if "bbox_clip_border" in t:
        common["clip_object_border"] = t.pop("bbox_clip_border")
    if "interpolation" in t:
        common["interpolation"] = t.pop("interpolation")
    scales, mode = t.pop("img_scale", None), t.pop("multiscale_mode", "range")
    ratio_range = t.pop("ratio_range", None)
    for name in t:
        ctx.report.add("unsupported", f"{key}.{name}", "no v3 Resize argument")
    if isinstance(scales, list) and len(scales) == 1:
        scales = scales[0]
    if ratio_range is not None:
        return dict(type="RandomResize", scale=scales, ratio_range=ratio_range, **common)
    if not isinstance(scales, list):
        return dict(type="Resize", scale=scales, **common)
    if mode == "value":
        return dict(type="RandomChoiceResize", scales=scales, **common)
    if not all(s[0] >= s[1] for s in scales):
        ctx.report.add("approximate", key, "v3's RandomResize draws each edge by position")
    return dict(type="RandomResize", scale=scales, **common)


def pipeline_to_v3(pipeline: Any, ctx: Context, key: str, native: bool) -> list[Transform]:
    """The v3 form of a v2 pipeline (test pipelines: ``MultiScaleFlipAug`` unwrapped)."""
    out: list[Transform] = []
    for i, raw in enumerate(plain(list(pipeline))):
        name, where = type_name(raw.get("type")), f"{key}.{i}"
        if name in ("Normalize", "Pad", "ImageToTensor", "DefaultFormatBundle"):
            continue
        if name == "Collect":
            out.append({"type": "PackDetInputs"})
        elif name == "MultiScaleFlipAug":
            out += _unwrap_test(raw, ctx, where, native)
        else:
            out += _transform(raw, ctx, where, native)
    return out


def _unwrap_test(t: Transform, ctx: Context, key: str, native: bool) -> list[Transform]:
    scale = t.get("img_scale")
    if t.get("flip") or (isinstance(scale, list) and len(scale) > 1):
        ctx.report.add("unsupported", key, "flip/multi-scale test-time augmentation")
    if isinstance(scale, list):
        scale = scale[0]
    out: list[Transform] = []
    for i, inner in enumerate(t.get("transforms", [])):
        name = type_name(inner.get("type"))
        if name == "Resize":
            out.append(dict(type="Resize", scale=scale, keep_ratio=inner.get("keep_ratio", True)))
        elif name not in ("RandomFlip", "Normalize", "Pad", "ImageToTensor", "Collect"):
            out += _transform(dict(inner), ctx, f"{key}.transforms.{i}", native)
    return out + [{"type": "PackDetInputs", "meta_keys": _TEST_META_KEYS}]


def dataset_to_v3(dataset: Any, ctx: Context, key: str, native: bool) -> dict[str, Any]:
    """The v3 form of a v2 dataset config (wrappers included)."""
    d = plain(dataset)
    kind = type_name(d.pop("type"))
    if kind in ("RepeatDataset", "ClassBalancedDataset"):
        inner = dataset_to_v3(d.pop("dataset"), ctx, f"{key}.dataset", native)
        return dict(type=kind, dataset=inner, **d)
    out: dict[str, Any] = {"type": kind}
    for name in ("data_root", "ann_file"):
        if name in d:
            out[name] = d.pop(name)
    prefix = {"img": d.pop("img_prefix", "")}
    if d.get("seg_prefix"):
        prefix["seg"] = d.pop("seg_prefix")
    d.pop("seg_prefix", None)
    out["data_prefix"] = prefix
    test_mode = bool(d.pop("test_mode", False))
    if test_mode:
        out["test_mode"] = True
    filters = {"filter_empty_gt": d.pop("filter_empty_gt", True), "min_size": d.pop("min_size", 32)}
    if not test_mode:
        out["filter_cfg"] = filters
    if d.get("classes") is not None:
        out["metainfo"] = {"classes": tuple(d.pop("classes"))}
    d.pop("classes", None)
    if "pipeline" in d:
        out["pipeline"] = pipeline_to_v3(d.pop("pipeline"), ctx, f"{key}.pipeline", native)
    d.pop("samples_per_gpu", None)
    for name in d:
        ctx.report.add("unsupported", f"{key}.{name}", f"no v3 {kind} argument")
    return out


def _ann_path(dataset: Mapping[str, Any]) -> str | None:
    inner = dataset
    while "dataset" in inner:
        inner = inner["dataset"]
    if "ann_file" not in inner:
        return None
    root = inner.get("data_root")
    return str(inner["ann_file"]) if root is None else os.path.join(root, inner["ann_file"])


def evaluation_to_v3(
    evaluation: Mapping[str, Any], val_dataset: Mapping[str, Any] | None, ctx: Context
) -> Any:
    """v3 ``val_evaluator`` for v2 ``evaluation`` (COCO metrics and/or ``cityscapes``)."""
    e = plain(dict(evaluation))
    names = e.pop("metric", "bbox")
    names = [names] if isinstance(names, str) else list(names)
    ann_file = _ann_path(val_dataset) if val_dataset else None
    metrics: list[dict[str, Any]] = []
    coco = [n for n in names if n in ("bbox", "segm", "proposal")]
    if coco:
        metric: dict[str, Any] = {"type": "CocoMetric", "ann_file": ann_file, "metric": coco}
        for name in ("classwise", "iou_thrs", "metric_items", "proposal_nums"):
            if name in e:
                metric[name] = e.pop(name)
        if "jsonfile_prefix" in e:
            metric["outfile_prefix"] = e.pop("jsonfile_prefix")
        metrics.append(metric)
    if "cityscapes" in names:
        city: dict[str, Any] = {"type": "CityScapesMetric", "ann_file": ann_file}
        if "outfile_prefix" in e:
            city["outfile_prefix"] = e.pop("outfile_prefix")
        metrics.append(city)
    for name in set(names) - {"bbox", "segm", "proposal", "cityscapes"}:
        ctx.report.add("unsupported", "evaluation.metric", f"{name}: no v3 metric mapped")
    for name in e:
        ctx.report.add("unsupported", f"evaluation.{name}", "no v3 evaluator option")
    return metrics[0] if len(metrics) == 1 else metrics
