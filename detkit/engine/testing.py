"""Test loops: run a detector over a data loader and collect MMDetection v2 results.

``single_gpu_test`` and ``multi_gpu_test`` return one result per image in dataset order:
``(bbox_results, segm_results)`` with every mask encoded as a COCO RLE dict (what
``--out`` pickles and ``dataset.evaluate`` takes), or ``bbox_results`` alone for box-only
detectors. ``bbox_results`` is a list of C float32 arrays ``[n_c, 5]`` (xyxy + score,
original-image pixels).

The data loader yields MMDetection-style batches (``img``, ``img_metas`` and, in test mode,
lists over test-time augmentations); the model is called as
``model(return_loss=False, rescale=True, **batch)``: the loops serve any model with
MMDetection's calling convention (DDP-wrapped ones included), and the results are the mmdet
lists evaluation and ``--out`` take. ``show``/``out_dir`` draw them with
``detkit.viz.show_result`` (converted once by ``DetectionResult.from_mmdet``).
"""

from __future__ import annotations

import os.path as osp
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from fastprogress.fastprogress import progress_bar
from torch import nn

from detkit.engine.dist import collect_results, get_dist_info
from detkit.engine.model_inputs import scatter
from detkit.evaluation.coco_format import encode_mask_results

__all__ = ["single_gpu_test", "multi_gpu_test", "encode_results"]


def encode_results(results: Sequence[Any]) -> list[Any]:
    """RLE-encode the masks of per-image ``(bbox_results, segm_results)`` results."""
    encoded = []
    for result in results:
        if isinstance(result, tuple):
            bbox_results, segm_results = result
            if isinstance(segm_results, tuple):  # (segms, mask_scores)
                segm_results = (encode_mask_results(segm_results[0]), segm_results[1])
            else:
                segm_results = encode_mask_results(segm_results)
            encoded.append((bbox_results, segm_results))
        else:
            encoded.append(result)
    return encoded


def _first_aug_metas(batch: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-image meta dicts of the first test-time augmentation of ``batch``."""
    metas = batch["img_metas"]
    if len(metas) and isinstance(metas[0], (list, tuple)):
        metas = metas[0]
    return list(metas)


def _device_of(model: Any) -> torch.device:
    """Where ``model`` takes its inputs: its parameters' device, or its ``device`` attribute
    (a graph runtime such as ``detkit.deploy.OnnxDetector`` has no parameters)."""
    parameter = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return parameter.device if parameter is not None else torch.device(model.device)


def _run(
    model: nn.Module,
    data_loader: Iterable[Mapping[str, Any]],
    show: bool,
    out_dir: str | None,
    show_score_thr: float,
    display: bool,
) -> list[Any]:
    model.eval()
    results: list[Any] = []
    class_names = getattr(getattr(model, "module", model), "CLASSES", None)
    batches = progress_bar(data_loader) if display else data_loader
    device = _device_of(getattr(model, "module", model))
    for batch in batches:
        batch = scatter(batch, device)
        with torch.no_grad():
            batch_results = model(return_loss=False, rescale=True, **batch)
        if show or out_dir:
            from detkit.viz import show_result  # matplotlib only when drawing

            for meta, result in zip(_first_aug_metas(batch), batch_results):
                out_file = osp.join(out_dir, meta["ori_filename"]) if out_dir else None
                show_result(
                    meta["filename"],
                    result,
                    class_names=class_names,
                    score_thr=show_score_thr,
                    out_file=out_file,
                    show=show,
                )
        results.extend(encode_results(batch_results))
    return results


def single_gpu_test(
    model: nn.Module,
    data_loader: Iterable[Mapping[str, Any]],
    show: bool = False,
    out_dir: str | None = None,
    show_score_thr: float = 0.3,
    display: bool = True,
) -> list[Any]:
    """Test ``model`` on every batch of ``data_loader`` (one process).

    Args:
        model: a detector (or a DataParallel/DDP wrapper) in any mode; set to eval.
        data_loader: a test loader (no shuffling), batches as ``model`` takes them.
        show: display each drawn result (matplotlib window / notebook).
        out_dir: save each drawn result to ``<out_dir>/<ori_filename>``.
        show_score_thr: detections below this score are not drawn.
        display: show a fastprogress bar.

    Returns:
        One result per image, in loader order, masks RLE-encoded.
    """
    return _run(model, data_loader, show, out_dir, show_score_thr, display)


def multi_gpu_test(
    model: nn.Module,
    data_loader: Iterable[Mapping[str, Any]],
    show_score_thr: float = 0.3,
    out_dir: str | None = None,
) -> list[Any] | None:
    """Test with several processes (``torch.distributed`` initialised; one process works
    too): each rank runs its
    share of ``data_loader``, then rank 0 receives all results in dataset order.

    The loader must use a non-shuffling ``DistributedSampler`` (rank r holds images
    r, r + W, ...; see :func:`detkit.engine.dist.collect_results`).

    Returns:
        All results on rank 0, None on the other ranks.
    """
    rank, _ = get_dist_info()
    part = _run(model, data_loader, False, out_dir, show_score_thr, display=rank == 0)
    results = collect_results(part, len(data_loader.dataset))  # type: ignore[attr-defined]
    return results if rank == 0 else None
