"""``export``: a trained detector as an ONNX file or a ``torch.export`` program (``.pt2``),
with its config and class names stored inside, so that the file alone is enough to run it
(:class:`detkit.deploy.OnnxDetector`, :class:`detkit.deploy.ExportedProgramDetector`)."""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch
import torch.nn as nn

from detkit.deploy.graph import DeployableDetector
from detkit.io import atomic_write, write_bytes

__all__ = [
    "export",
    "FORMATS",
    "INPUT_NAMES",
    "output_names",
    "metadata",
    "metadata_keys",
    "example_inputs",
]

FORMATS = ("onnx", "exported-program")
INPUT_NAMES = ("img", "img_shape", "scale_factor")
META_CONFIG, META_CLASSES, META_OUTPUTS = "detkit_config", "detkit_classes", "detkit_outputs"
META_SHAPE = "detkit_input_shape"
DEFAULT_OPSET = 18
# the size traced for a dynamic-size export, and the sizes its graph accepts (a coarsest
# pyramid level, stride 64, of one pixel would be a special case of the traced graph)
_TRACE_SHAPE = (128, 256)
DYNAMIC_RANGE = (65, 8192)
# the batch traced (the batch size is always dynamic: a traced batch of 1 would be
# specialised), and the largest batch the graph accepts
_TRACE_BATCH = 2
MAX_BATCH = 1024


def output_names(with_mask: bool) -> list[str]:
    return ["boxes", "scores", "labels", "image_index"] + (["mask_probs"] if with_mask else [])


def metadata_keys() -> tuple[str, ...]:
    return (META_CONFIG, META_CLASSES, META_OUTPUTS, META_SHAPE)


def metadata(model: nn.Module, shape: Sequence[int] | None) -> dict[str, str]:
    """What travels inside the file: the config (Python source), class names, output names
    and the fixed input size (``"dynamic"`` when any size is accepted)."""
    cfg = getattr(model, "cfg", None)
    if cfg is None:
        raise ValueError("export: the model has no .cfg; build it with detkit.init_detector")
    classes = getattr(model, "CLASSES", None)
    return {
        META_CONFIG: cfg.pretty_text,
        META_CLASSES: json.dumps(list(classes) if classes else None),
        META_OUTPUTS: json.dumps(output_names(cast(bool, model.with_mask))),
        META_SHAPE: json.dumps(list(shape) if shape else "dynamic"),
    }


def example_inputs(
    shape: Sequence[int], batch: int = _TRACE_BATCH
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Graph inputs for ``batch`` images ``[B, 3, H, W]`` with no padding and scale 1."""
    height, width = int(shape[0]), int(shape[1])
    return (
        torch.zeros(batch, 3, height, width),
        torch.tensor([[height, width]] * batch, dtype=torch.float32),
        torch.ones(batch, 4),
    )


def _load_model(
    model_or_config: Any, checkpoint: str | None, cfg_options: dict[str, Any] | None
) -> nn.Module:
    if isinstance(model_or_config, nn.Module):
        if checkpoint is not None or cfg_options:
            raise ValueError("export: give checkpoint/cfg_options with a config, not a model")
        return model_or_config
    from detkit.engine.inference import init_detector

    return init_detector(model_or_config, checkpoint, device="cpu", cfg_options=cfg_options)


def _dynamic_shapes(shape: Sequence[int] | None) -> Any:
    """Any batch size; any image size too without a fixed ``shape``."""
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    img: dict[int, Any] = {0: batch}
    if shape is None:
        low, high = DYNAMIC_RANGE
        img[2] = torch.export.Dim("height", min=low, max=high)
        img[3] = torch.export.Dim("width", min=low, max=high)
    return (img, {0: batch}, {0: batch})


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Without the FutureWarning of torchvision's NMS shape function (it calls a renamed
    PyTorch helper) on every trace."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*create_unbacked_symint", FutureWarning)
        yield


def _trace(
    graph: DeployableDetector, inputs: tuple[torch.Tensor, ...], shape: Sequence[int] | None
) -> torch.export.ExportedProgram:
    """``torch.export`` of ``graph`` with NNPACK off (its size tests would guard on the
    symbolic sizes); a dynamic export that would fix a size fails here. Errors name the
    detector and the cause."""
    try:
        with torch.no_grad(), torch.backends.nnpack.flags(enabled=False), _quiet():
            return torch.export.export(
                graph, inputs, dynamic_shapes=_dynamic_shapes(shape), strict=False
            )
    except Exception as exc:  # the exporter raises many types; name the model and re-raise
        detector = type(graph.model).__name__
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise RuntimeError(f"export of {detector} failed: {type(exc).__name__}: {first}") from exc


def _write_onnx(
    program: torch.export.ExportedProgram,
    with_mask: bool,
    out: str,
    opset: int,
    simplify: bool,
    meta: dict[str, str],
) -> None:
    import onnx

    from detkit.deploy.onnx_ops import ONNX_TRANSLATIONS

    with _quiet():
        onnx_program = torch.onnx.export(
            program,
            (),
            None,
            dynamo=True,
            opset_version=opset,
            verbose=False,
            input_names=list(INPUT_NAMES),
            output_names=output_names(with_mask),
            custom_translation_table=ONNX_TRANSLATIONS,
        )
    # dynamo=True: export returns the program (None only for the TorchScript exporter)
    proto = cast(torch.onnx.ONNXProgram, onnx_program).model_proto
    if simplify:
        import onnxscript.optimizer

        proto = onnxscript.optimizer.optimize(proto)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    write_bytes(out, proto.SerializeToString())


def export(
    model_or_config: Any,
    checkpoint: str | None = None,
    *,
    out: str,
    format: str = "onnx",
    shape: Sequence[int] | None = None,  # noqa: A002
    opset: int = DEFAULT_OPSET,
    simplify: bool = False,
    cfg_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export a two-stage detector (its eager ``detect``: backbone, neck, RPN with its NMS,
    every box and mask stage, box decoding and per-class NMS) to ``out``, for any batch size.

    Args:
        model_or_config: a model from :func:`detkit.init_detector`, or a config path/Config.
        checkpoint: weights for a config (None: random weights).
        out: the file to write (atomically).
        format: ``'onnx'`` (ONNX Runtime) or ``'exported-program'`` (``torch.export.save``).
        shape: ``(H, W)`` of the (padded) input for a fixed-size graph; None: any size.
        opset: ONNX opset (>= 16).
        simplify: ONNX only: run onnxscript's optimizer (constant folding, dead nodes) once
            more after the exporter's own pass.
        cfg_options: config overrides (with a config).

    Returns:
        ``dict(out, format, seconds, bytes)``: the export time and the file size.

    Raises:
        TypeError: a module of the model has no export path (named in the message).
        RuntimeError: the exporter failed (the detector and the cause are named).
    """
    if format not in FORMATS:
        raise ValueError(f"export: format {format!r} is not one of {', '.join(FORMATS)}")
    if shape is not None and (len(shape) != 2 or min(int(s) for s in shape) < 32):
        raise ValueError(f"export: shape must be (H, W) of at least 32 pixels, got {shape}")
    model = _load_model(model_or_config, checkpoint, cfg_options).cpu().eval()
    graph = DeployableDetector(model).eval()
    inputs = example_inputs(shape or _TRACE_SHAPE)
    meta = metadata(model, shape)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if format == "onnx":
        from detkit.deploy.onnx_ops import MIN_OPSET

        if opset < MIN_OPSET:
            raise ValueError(
                f"export: opset {opset} is too old; RoiAlign's half_pixel mode "
                f"needs opset >= {MIN_OPSET}"
            )
    start = time.perf_counter()
    program = _trace(graph, inputs, shape)
    if format == "onnx":
        _write_onnx(program, graph.with_mask, out, opset, simplify, meta)
    else:
        atomic_write(out, lambda f: torch.export.save(program, f, extra_files=meta))
    return dict(
        out=out, format=format, seconds=time.perf_counter() - start, bytes=os.path.getsize(out)
    )
