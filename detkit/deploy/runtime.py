"""Detectors that run an exported graph: ``OnnxDetector`` (ONNX Runtime) and
``ExportedProgramDetector`` (a ``torch.export`` program). Both take what an eager detector
from :func:`detkit.init_detector` takes — ``detkit.inference_detector(detector, img)``, or
``detector(img=[...], img_metas=[...], return_loss=False, rescale=True)`` — and give the same
results: MMDetection's per-class format, ``predict`` gives ``DetectionResult``s. A batch runs
as one graph run (the graphs take any batch size)."""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from detkit.deploy.exporter import (
    DYNAMIC_RANGE,
    META_CLASSES,
    META_CONFIG,
    META_OUTPUTS,
    META_SHAPE,
)
from detkit.deploy.postprocess import graph_inputs, to_results
from detkit.models.detectors.base import predict_views
from detkit.structures.results import DetectionResult

__all__ = ["OnnxDetector", "ExportedProgramDetector"]


class _GraphDetector(abc.ABC):
    """What both runtimes share: config and class names from the file's metadata, the
        MMDetection calling conventions (the eager detector's dispatch, ``predict_views``), one
    graph run per batch."""

    device = torch.device("cpu")  # where ``inference_detector`` puts the batch

    def __init__(self, path: str, meta: Mapping[str, str], config: Any = None) -> None:
        from detkit.config import Config

        missing = [k for k in (META_CONFIG, META_CLASSES, META_OUTPUTS) if k not in meta]
        if missing and config is None:
            raise ValueError(
                f"{path} has no detkit metadata ({', '.join(missing)}); export it "
                "with detkit.export or pass config="
            )
        if config is None:
            self.cfg = Config.fromstring(meta[META_CONFIG], ".py")
        else:
            self.cfg = Config.load(config)
        classes = json.loads(meta.get(META_CLASSES, "null"))
        self.CLASSES = tuple(classes) if classes else None
        self.output_names = json.loads(meta.get(META_OUTPUTS, "null")) or []
        self.input_shape = json.loads(meta.get(META_SHAPE, '"dynamic"'))
        self.path = path
        model_cfg = self.cfg.model
        head = model_cfg.roi_head.bbox_head
        self.num_classes = int(
            (head[-1] if isinstance(head, (list, tuple)) else head)["num_classes"]
        )
        self.with_mask = "mask_probs" in self.output_names
        rcnn = (model_cfg.get("test_cfg") or self.cfg.get("test_cfg") or {}).get("rcnn") or {}
        self.mask_thr_binary = float(rcnn.get("mask_thr_binary", 0.5))

    @abc.abstractmethod
    def run(self, img: Any, img_shape: Any, scale_factor: Any) -> list[Any]:
        """The graph's outputs for a batch's three inputs (numpy arrays)."""

    def _check_shape(self, img: torch.Tensor) -> None:
        if self.input_shape == "dynamic":
            low, high = DYNAMIC_RANGE
            if not all(low <= s <= high for s in img.shape[-2:]):
                raise ValueError(
                    f"{self.path} takes padded inputs of {low} to {high} pixels a "
                    f"side, got {img.shape[-2]}x{img.shape[-1]}"
                )
        elif list(img.shape[-2:]) != list(self.input_shape):
            raise ValueError(
                f"{self.path} was exported for {self.input_shape[0]}x"
                f"{self.input_shape[1]} inputs, got {img.shape[-2]}x{img.shape[-1]}; "
                "export with a dynamic shape or resize/pad to that size"
            )

    def predict(
        self,
        img: torch.Tensor,
        img_metas: Sequence[Mapping[str, Any]],
        proposals: Sequence[torch.Tensor] | None = None,
        rescale: bool = False,
    ) -> list[DetectionResult]:
        """Detections of each image of ``img`` ``[B, 3, H, W]`` (one graph run for the
        batch)."""
        if proposals is not None:
            raise ValueError(f"{type(self).__name__} computes its own proposals")
        self._check_shape(img)
        outputs = self.run(*graph_inputs(img, img_metas, rescale))
        return to_results(outputs, img_metas, rescale, self.mask_thr_binary)

    def predict_aug(
        self,
        imgs: Sequence[torch.Tensor],
        img_metas: Sequence[Sequence[Mapping[str, Any]]],
        rescale: bool = False,
    ) -> list[DetectionResult]:
        raise ValueError(
            f"{type(self).__name__}: test-time augmentation ({len(imgs)} views) "
            "is not exported; use one view"
        )

    def simple_test(
        self,
        img: torch.Tensor,
        img_metas: Sequence[Mapping[str, Any]],
        rescale: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        return [r.to_mmdet(self.num_classes) for r in self.predict(img, img_metas, rescale=rescale)]

    def __call__(
        self,
        img: list[torch.Tensor],
        img_metas: list[list[Mapping]],
        return_loss: bool = False,
        rescale: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """MMDetection's ``model(return_loss=False, ...)``: the eager detector's dispatch."""
        if return_loss:
            raise ValueError(f"{type(self).__name__} runs inference only (return_loss=False)")
        results = predict_views(self, img, img_metas, rescale=rescale)
        return [r.to_mmdet(self.num_classes) for r in results]

    def eval(self) -> _GraphDetector:
        return self


class OnnxDetector(_GraphDetector):
    """An exported ONNX detector on ONNX Runtime.

    Args:
        path: the ``.onnx`` file from :func:`detkit.export`.
        config: optional config (path or Config) instead of the one stored in the file.
        providers: ONNX Runtime execution providers (default: CUDA when available, then CPU).
        num_threads: intra-op threads (default: ONNX Runtime's choice).
    """

    def __init__(
        self,
        path: str,
        config: Any = None,
        providers: Sequence[str] | None = None,
        num_threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        if providers is None:
            providers = [
                p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available
            ]
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        options.log_severity_level = 3  # no warnings about shape merging on dynamic sizes
        self.session = ort.InferenceSession(str(path), options, providers=list(providers))
        meta = self.session.get_modelmeta().custom_metadata_map
        super().__init__(str(path), meta, config)
        self.output_names = self.output_names or [o.name for o in self.session.get_outputs()]
        self.with_mask = "mask_probs" in self.output_names
        self.providers = self.session.get_providers()

    def run(self, img: Any, img_shape: Any, scale_factor: Any) -> list[Any]:
        return self.session.run(
            self.output_names, {"img": img, "img_shape": img_shape, "scale_factor": scale_factor}
        )


class ExportedProgramDetector(_GraphDetector):
    """A ``torch.export`` program (``.pt2`` from ``detkit.export(format='exported-program')``)
    run by PyTorch on CPU."""

    def __init__(self, path: str, config: Any = None) -> None:
        from detkit.deploy.exporter import metadata_keys

        meta = {k: "" for k in metadata_keys()}
        self.program = torch.export.load(str(path), extra_files=meta)
        self.module = self.program.module()
        super().__init__(str(path), {k: v for k, v in meta.items() if v}, config)

    def run(self, img: Any, img_shape: Any, scale_factor: Any) -> list[Any]:
        with torch.no_grad():
            outputs = self.module(
                torch.from_numpy(img), torch.from_numpy(img_shape), torch.from_numpy(scale_factor)
            )
        return [o.numpy() for o in outputs]
