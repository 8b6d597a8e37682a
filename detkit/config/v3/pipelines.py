"""MMDetection 3.x data pipelines -> detkit (v2-schema) pipelines.

v3 splits what v2 did in the pipeline: images stay uint8 until ``PackDetInputs``, and the
model's ``data_preprocessor`` (``DetDataPreprocessor``) normalises and pads the batch. Here the
preprocessor becomes ``Normalize`` + ``Pad`` just before the formatting steps (same numbers: v2
normalises then pads with 0, v3 pads the normalised batch with ``pad_value=0``), and
``PackDetInputs`` becomes ``DefaultFormatBundle`` + ``Collect``. A test pipeline
(``Resize(scale=...)`` + ``PackDetInputs``) is wrapped in v2's ``MultiScaleFlipAug``.

Transforms map one by one (see ``docs/migration.md`` for the table): exact v2 equivalents where
the random draws are the same (``RandomFlip(prob)``, ``RandomChoiceResize``, ``RandomResize``
over ``(long, short)`` scales or with ``ratio_range``); v3-only semantics otherwise, by detkit's
``mmdet3.*`` transforms (v3 ``Rotate``, ``TranslateX/Y``, ``ShearX/Y``, ``RandomResize``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from detkit.config.v3.common import V3_SCOPE, Context, plain, type_name

__all__ = ["translate_pipeline", "preprocessor_transforms", "GEOMETRIC_V3"]

Transform = dict[str, Any]
GEOMETRIC_V3 = ("Rotate", "TranslateX", "TranslateY", "ShearX", "ShearY")
# same name and arguments in v2 and v3 (checked against mmdet 3.3's transforms)
_SAME_IN_BOTH = ("FilterAnnotations", "Normalize", "ImageToTensor", "DefaultFormatBundle")
_FORMATTING = ("PackDetInputs",)
_DEFAULT_PAD_VAL = {"img": 0, "masks": 0, "seg": 255}
_NO_EQUIVALENT = {
    "TestTimeAug": "test-time augmentation is not supported",
    "RandAugment": "no RandAugment in detkit",
    "LoadPanopticAnnotations": "no panoptic segmentation in detkit",
}


def preprocessor_transforms(preprocessor: Mapping[str, Any], ctx: Context, key: str) -> None:
    """Set ``ctx.normalize`` to the ``Normalize``/``Pad`` pair standing for a v3
    ``DetDataPreprocessor`` (``mean``, ``std``, ``bgr_to_rgb``/``rgb_to_bgr``,
    ``pad_size_divisor``, ``pad_value``, ``pad_mask``, ``mask_pad_value``, ``seg_pad_value``)."""
    options = plain(preprocessor)
    kind = type_name(options.pop("type", "DetDataPreprocessor"))
    if kind != "DetDataPreprocessor":
        ctx.report.add("unsupported", f"{key}.type", f"{kind} has no detkit equivalent")
        return
    transforms: list[Transform] = []
    mean, std = options.pop("mean", None), options.pop("std", None)
    swap = bool(options.pop("bgr_to_rgb", False)) or bool(options.pop("rgb_to_bgr", False))
    if mean is not None or std is not None:
        transforms.append(
            dict(
                type="Normalize",
                mean=list(mean if mean is not None else [0.0, 0.0, 0.0]),
                std=list(std if std is not None else [1.0, 1.0, 1.0]),
                to_rgb=swap,
            )
        )
    elif swap:
        ctx.report.add("unsupported", f"{key}.bgr_to_rgb", "a channel swap without mean/std")
    divisor = int(options.pop("pad_size_divisor", 1))
    pad_val = {
        "img": options.pop("pad_value", 0),
        "masks": options.pop("mask_pad_value", 0),
        "seg": options.pop("seg_pad_value", 255),
    }
    options.pop("pad_mask", None)  # v2's Pad pads masks always; mask targets do not change
    options.pop("pad_seg", None)
    if divisor > 1:
        pad: Transform = dict(type="Pad", size_divisor=divisor)
        if pad_val != _DEFAULT_PAD_VAL:
            pad["pad_val"] = pad_val
        transforms.append(pad)
    options.pop("boxtype2tensor", None)
    options.pop("non_blocking", None)
    for name in options.pop("batch_augments", None) or []:
        ctx.report.add(
            "unsupported", f"{key}.batch_augments", f"{type_name(name.get('type'))}: none in detkit"
        )
    for name in options:
        ctx.report.add("unsupported", f"{key}.{name}", "DetDataPreprocessor option not in detkit")
    ctx.normalize = transforms


def _load_image(t: Transform, ctx: Context, key: str) -> list[Transform]:
    backend = t.pop("backend_args", None)
    if backend is not None:
        ctx.report.add("unsupported", f"{key}.backend_args", "only local files are read")
    if t.pop("imdecode_backend", "cv2") != "cv2":
        ctx.report.add("approximate", f"{key}.imdecode_backend", "images are decoded with cv2")
    t.pop("ignore_empty", None)
    return [dict(type="LoadImageFromFile", **t)]


def _load_annotations(t: Transform, ctx: Context, key: str) -> list[Transform]:
    t.pop("backend_args", None)
    if t.pop("box_type", "hbox") != "hbox":
        ctx.report.add("unsupported", f"{key}.box_type", "only horizontal boxes ('hbox')")
    for name in ("reduce_zero_label", "ignore_index", "imdecode_backend"):
        if name in t:
            ctx.report.add("unsupported", f"{key}.{name}", "no such option in detkit")
            t.pop(name)
    return [dict(type="LoadAnnotations", **t)]


def _resize_common(t: Transform, ctx: Context, key: str) -> dict[str, Any]:
    out: dict[str, Any] = {"keep_ratio": t.pop("keep_ratio", False)}
    if "clip_object_border" in t:
        out["bbox_clip_border"] = t.pop("clip_object_border")
    for name in ("interpolation", "backend"):
        if name in t:
            out[name] = t.pop(name)
    return out


def _resize(t: Transform, ctx: Context, key: str) -> list[Transform]:
    common = _resize_common(t, ctx, key)
    if t.get("scale_factor") is not None:
        ctx.report.add("unsupported", f"{key}.scale_factor", "use scale=(w, h)")
    t.pop("scale_factor", None)
    scale = t.pop("scale", None)
    _leftovers(t, ctx, key)
    return [dict(type="Resize", img_scale=_scale(scale), **common)]


def _scale(scale: Any) -> Any:
    if isinstance(scale, int):
        return (scale, scale)
    if isinstance(scale, (list, tuple)) and scale and isinstance(scale[0], (list, tuple)):
        return [tuple(s) for s in scale]
    return tuple(scale) if scale is not None else None


def _random_resize(t: Transform, ctx: Context, key: str) -> list[Transform]:
    resize_type = type_name(t.pop("resize_type", "Resize"))
    if resize_type != "Resize":
        ctx.report.add("unsupported", f"{key}.resize_type", f"{resize_type}: only 'Resize'")
    common = _resize_common(t, ctx, key)
    scale, ratio_range = _scale(t.pop("scale")), t.pop("ratio_range", None)
    _leftovers(t, ctx, key)
    if ratio_range is not None:  # mmcv draws the ratio as v2's Resize(ratio_range) does
        return [dict(type="Resize", img_scale=scale, ratio_range=tuple(ratio_range), **common)]
    if not isinstance(scale, list):
        return [dict(type="Resize", img_scale=scale, **common)]
    if all(s[0] >= s[1] for s in scale):  # v2 draws (long, short) = v3's (edge 0, edge 1)
        return [dict(type="Resize", img_scale=scale, multiscale_mode="range", **common)]
    if ctx.target == "v2":
        ctx.report.add(
            "approximate",
            key,
            "RandomResize draws each edge from the scales' own positions; v2's Resize 'range' "
            "draws long and short edges (differs when a scale is (short, long))",
        )
        return [dict(type="Resize", img_scale=scale, multiscale_mode="range", **common)]
    return [dict(type=V3_SCOPE + "RandomResize", scale=scale, **common)]


def _random_choice_resize(t: Transform, ctx: Context, key: str) -> list[Transform]:
    resize_type = type_name(t.pop("resize_type", "Resize"))
    if resize_type != "Resize":
        ctx.report.add("unsupported", f"{key}.resize_type", f"{resize_type}: only 'Resize'")
    common = _resize_common(t, ctx, key)
    scales = _scale(t.pop("scales"))
    _leftovers(t, ctx, key)
    return [dict(type="Resize", img_scale=scales, multiscale_mode="value", **common)]


def _random_flip(t: Transform, ctx: Context, key: str) -> list[Transform]:
    out: Transform = {"type": "RandomFlip"}
    if "prob" in t:
        out["flip_ratio"] = t.pop("prob")
    if "direction" in t:
        out["direction"] = t.pop("direction")
    _leftovers(t, ctx, key)
    return [out]


def _pad(t: Transform, ctx: Context, key: str) -> list[Transform]:
    if "padding_mode" in t and t.pop("padding_mode") != "constant":
        ctx.report.add("unsupported", f"{key}.padding_mode", "only 'constant' padding")
    pad_val = t.pop("pad_val", None)
    if isinstance(pad_val, Mapping):
        t["pad_val"] = {"img": pad_val.get("img", 0), "masks": 0, "seg": pad_val.get("seg", 255)}
    elif pad_val is not None:
        t["pad_val"] = {"img": pad_val, "masks": 0, "seg": 255}
    return [dict(type="Pad", **t)]


def _geometric(name: str) -> Callable[[Transform, Context, str], list[Transform]]:
    def translate(t: Transform, ctx: Context, key: str) -> list[Transform]:
        if ctx.target != "v2":
            return [dict(type=V3_SCOPE + name, **t)]
        return _nearest_v2_geometric(name, t, ctx, key)

    return translate


def _nearest_v2_geometric(name: str, t: Transform, ctx: Context, key: str) -> list[Transform]:
    """v2's nearest transform to a v3 geometric one (same distribution of magnitudes)."""
    level = t.get("level")
    if level is None or float(t.get("min_mag", 0.0)) != 0.0 or name.startswith("Translate"):
        why = "a random level" if level is None else "a min_mag or a relative offset"
        ctx.report.add("unsupported", key, f"v3 {name} with {why} has no v2 equivalent")
        return []
    out: Transform = {
        "level": level,
        "prob": t.get("prob", 1.0),
        "img_fill_val": t.get("img_border_value", 128),
        "random_negative_prob": 1.0 - float(t.get("reversal_prob", 0.5)),
    }
    if "seg_ignore_label" in t:
        out["seg_ignore_label"] = t["seg_ignore_label"]
    if name == "Rotate":
        out.update(type="Rotate", max_rotate_angle=float(t.get("max_mag", 30.0)))
    else:
        magnitude = math.tan(float(t.get("max_mag", 30.0)) * math.pi / 180)
        direction = "horizontal" if name == "ShearX" else "vertical"
        out.update(type="Shear", max_shear_magnitude=magnitude, direction=direction)
    ctx.report.add(
        "approximate",
        key,
        f"v3 {name} -> v2 {out['type']}: same magnitudes and sign odds, but v2 rounds no "
        "magnitude, draws the sign the other way round and drops boxes left empty",
    )
    return [out]


def _auto_augment(t: Transform, ctx: Context, key: str) -> list[Transform]:
    policies = t.pop("policies", None)
    if policies is None:
        ctx.report.add("unsupported", f"{key}.policies", "v3's default policies_v0()")
        return []
    out: Transform = {
        "type": "AutoAugment",
        "policies": [
            [
                step
                for j, transform in enumerate(policy)
                for step in _translate_one(transform, ctx, f"{key}.policies.{i}.{j}")
            ]
            for i, policy in enumerate(policies)
        ],
    }
    prob = t.pop("prob", None)
    if prob is not None:
        out["prob"] = list(prob)
    _leftovers(t, ctx, key)
    return [out]


def _leftovers(t: Transform, ctx: Context, key: str) -> None:
    for name in t:
        ctx.report.add("unsupported", f"{key}.{name}", "argument not in detkit's transform")


_MAPPERS: dict[str, Callable[[Transform, Context, str], list[Transform]]] = {
    "LoadImageFromFile": _load_image,
    "LoadAnnotations": _load_annotations,
    "Resize": _resize,
    "RandomResize": _random_resize,
    "RandomChoiceResize": _random_choice_resize,
    "RandomFlip": _random_flip,
    "Pad": _pad,
    "AutoAugment": _auto_augment,
    **{name: _geometric(name) for name in GEOMETRIC_V3},
}


def _translate_one(transform: Any, ctx: Context, key: str) -> list[Transform]:
    t = plain(transform)
    if not isinstance(t, dict) or "type" not in t:
        ctx.report.add("unsupported", key, f"a transform must be a dict with a 'type', got {t!r}")
        return []
    raw = t.pop("type")
    name = type_name(raw)
    if name.startswith("detkit."):  # detkit's own (v2) class, as the converter writes it
        return [dict(type=name[len("detkit.") :], **t)]
    if name in _MAPPERS:
        return _MAPPERS[name](t, ctx, key)
    if name in _NO_EQUIVALENT:
        ctx.report.add("unsupported", key, f"{name}: {_NO_EQUIVALENT[name]}")
        return []
    if name not in _SAME_IN_BOTH:
        ctx.report.add(
            "approximate",
            key,
            f"{name}: no v3-specific mapping; detkit runs its v2 transform of that name "
            "(v3 argument names and random draws not checked)",
        )
    return [dict(type=name, **t)]


def _collect_keys(pipeline: Sequence[Transform]) -> list[str]:
    keys = ["img"]
    for t in pipeline:
        if t.get("type") == "LoadAnnotations":
            if t.get("with_bbox", True):
                keys.append("gt_bboxes")
            if t.get("with_label", True):
                keys.append("gt_labels")
            if t.get("with_mask", False):
                keys.append("gt_masks")
            if t.get("with_seg", False):
                keys.append("gt_semantic_seg")
    return keys


def _pack(t: Transform, ctx: Context, key: str, done: list[Transform]) -> list[Transform]:
    meta_keys = t.pop("meta_keys", None)
    if meta_keys is not None:
        ctx.report.add(
            "dropped",
            f"{key}.meta_keys",
            "detkit collects v2's image meta (filename, ori/img/pad shape, scale_factor, flip)",
        )
    _leftovers(t, ctx, key)
    return [dict(type="DefaultFormatBundle"), dict(type="Collect", keys=_collect_keys(done))]


def translate_pipeline(pipeline: Any, ctx: Context, key: str, test: bool) -> list[Transform]:
    """The v2 form of v3 ``pipeline`` (config key ``key``); ``test`` for a val/test pipeline,
    which is wrapped in ``MultiScaleFlipAug`` and loads no annotations."""
    if not isinstance(pipeline, (list, tuple)):
        ctx.report.add("unsupported", key, f"a pipeline must be a list, got {type(pipeline)}")
        return []
    if test:
        return _translate_test(pipeline, ctx, key)
    out: list[Transform] = []
    for i, transform in enumerate(pipeline):
        t = plain(transform)
        if isinstance(t, dict) and type_name(t.get("type")) in _FORMATTING:
            t.pop("type")
            out += list(ctx.normalize) + _pack(t, ctx, f"{key}.{i}", out)
        else:
            out += _translate_one(t, ctx, f"{key}.{i}")
    return out


def _translate_test(pipeline: Sequence[Any], ctx: Context, key: str) -> list[Transform]:
    head: list[Transform] = []
    inner: list[Transform] = []
    scale: Any = None
    for i, transform in enumerate(pipeline):
        t, where = plain(transform), f"{key}.{i}"
        name = type_name(t.get("type"))
        if name == "LoadImageFromFile":
            head += _translate_one(t, ctx, where)
        elif name == "LoadAnnotations":
            ctx.report.add(
                "dropped", where, "detkit evaluates against the dataset's annotation file"
            )
        elif name == "Resize" and scale is None:
            t.pop("type")
            (resize,) = _resize(t, ctx, where)
            scale = resize.pop("img_scale")
            inner.append(resize)
        elif name in _FORMATTING:
            t.pop("type")
            _pack(t, ctx, where, [])
        else:
            inner += _translate_one(t, ctx, where)
    if not any(t["type"] == "Resize" for t in inner):
        inner.insert(0, dict(type="Resize", keep_ratio=True))
    inner += [dict(type="RandomFlip"), *ctx.normalize]
    inner += [dict(type="ImageToTensor", keys=["img"]), dict(type="Collect", keys=["img"])]
    wrapper: Transform = dict(type="MultiScaleFlipAug", flip=False, transforms=inner)
    if scale is not None:
        wrapper["img_scale"] = scale
    else:
        wrapper["scale_factor"] = 1.0
    return head + [wrapper]
