"""Cityscapes' official instance-level evaluation (cityscapesscripts
``evalInstanceLevelSemanticLabeling``), as MMDetection v2 ``CityscapesDataset`` runs it
(reference section 8.2).

``results2txt`` writes, per image, ``<basename>_pred.txt`` listing
``"<png name> <cityscapes label id> <score>"`` and one 0/1 PNG per instance
``<basename>_<i>_<class>.png``. ``evaluate_cityscapes`` then runs the official script on
them and returns ``mAP`` (``allAp``) and ``AP@50`` (``allAp50%``), fractions in [0, 1].

The script is driven without its traps: it gets its own copy of the settings object (the
module-level ``args`` is never modified), caches ground truth in the results dir instead of
site-packages, writes its ``matches.json`` into a temporary working dir, and its
``sys.exit`` on errors becomes a ``RuntimeError`` carrying the script's message.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import os.path as osp
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
from PIL import Image

from detkit.evaluation.log import LoggerLike, print_log

__all__ = ["results2txt", "gt_instance_file", "evaluate_cityscapes"]


def _cityscapes_label_id(class_name: str) -> int:
    from cityscapesscripts.helpers.labels import name2label

    if class_name not in name2label:
        raise KeyError(
            f"class {class_name!r} is not a Cityscapes label; the 'cityscapes' metric needs "
            "Cityscapes class names (person, rider, car, truck, bus, train, motorcycle, bicycle)"
        )
    return name2label[class_name].id


def _decode_mask(mask: Any) -> np.ndarray:
    if isinstance(mask, dict):
        return mask_util.decode(mask).astype(np.uint8)
    return np.asarray(mask).astype(np.uint8)


def results2txt(
    results: Sequence[tuple[Any, Any]],
    filenames: Sequence[str],
    classes: Sequence[str],
    outfile_prefix: str,
) -> list[str]:
    """Write the Cityscapes prediction files; returns the ``_pred.txt`` paths.

    Args:
        results: per image ``(bbox_results, segm_results)`` (masks as RLE or arrays
            ``[h, w]``; ``segm_results`` may be ``(segms, mask_scores)``).
        filenames: image file name per result (only the basename is used).
        classes: class name per label (Cityscapes names).
        outfile_prefix: output directory (created).
    """
    if len(results) != len(filenames):
        raise ValueError(f"got {len(results)} results for {len(filenames)} images")
    os.makedirs(outfile_prefix, exist_ok=True)
    label_ids = [_cityscapes_label_id(name) for name in classes]
    txt_files = []
    for result, filename in zip(results, filenames):
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(
                "the 'cityscapes' metric needs mask results (bbox_results, segm_results) "
                f"per image, got {type(result).__name__} for {filename}"
            )
        bbox_result, segm_result = result
        segms, mask_scores = segm_result if isinstance(segm_result, tuple) else (segm_result, None)
        basename = osp.splitext(osp.basename(filename))[0]
        pred_txt = osp.join(outfile_prefix, f"{basename}_pred.txt")
        lines = []
        index = 0
        for label, bboxes in enumerate(bbox_result):
            rows = np.asarray(bboxes).reshape(-1, 5)
            for i, row in enumerate(rows):
                score = float(mask_scores[label][i]) if mask_scores is not None else float(row[4])
                png_name = f"{basename}_{index}_{classes[label]}.png"
                Image.fromarray(_decode_mask(segms[label][i])).save(
                    osp.join(outfile_prefix, png_name)
                )
                lines.append(f"{png_name} {label_ids[label]} {score}\n")
                index += 1
        with open(pred_txt, "w") as f:
            f.writelines(lines)
        txt_files.append(pred_txt)
    return txt_files


def gt_instance_file(img_prefix: str, filename: str) -> str:
    """``leftImg8bit/val/<city>/<name>_leftImg8bit.png`` -> the matching
    ``gtFine/val/<city>/<name>_gtFine_instanceIds.png``."""
    image_path = osp.join(img_prefix, filename)
    parts = osp.normpath(image_path).split(os.sep)
    if "leftImg8bit" not in parts:
        raise ValueError(f"{image_path} is not under a Cityscapes 'leftImg8bit' folder")
    parts[len(parts) - 1 - parts[::-1].index("leftImg8bit")] = "gtFine"
    stem = osp.basename(image_path).replace("_leftImg8bit", "")
    stem = osp.splitext(stem)[0]
    return osp.join(os.sep.join(parts[:-1]) or ".", f"{stem}_gtFine_instanceIds.png")


@contextlib.contextmanager
def _working_dir(path: str) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def evaluate_cityscapes(
    results: Sequence[tuple[Any, Any]],
    filenames: Sequence[str],
    classes: Sequence[str],
    img_prefix: str,
    outfile_prefix: str | None = None,
    logger: LoggerLike = None,
) -> dict[str, float]:
    """Run the official Cityscapes instance evaluation on ``results``.

    Args:
        results: per image ``(bbox_results, segm_results)``, in ``filenames`` order.
        filenames: image paths relative to ``img_prefix`` (``<city>/<name>_leftImg8bit.png``).
        classes: class name per label.
        img_prefix: the ``leftImg8bit/<split>`` folder; ground truth is read from the
            matching ``gtFine/<split>`` folder.
        outfile_prefix: keep the prediction files there (default: a temporary dir).
        logger: where the script's table goes.

    Returns:
        ``{'mAP': allAp, 'AP@50': allAp50%}``.

    Raises:
        FileNotFoundError: a ground-truth ``*_gtFine_instanceIds.png`` is missing.
        RuntimeError: the official script stopped with an error (its message included).
    """
    import cityscapesscripts.evaluation.evalInstanceLevelSemanticLabeling as cs_eval

    gt_files = [osp.abspath(gt_instance_file(img_prefix, name)) for name in filenames]
    missing = [path for path in gt_files if not osp.isfile(path)]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} Cityscapes ground-truth files not found, e.g. {missing[0]}"
        )
    with contextlib.ExitStack() as stack:
        if outfile_prefix is None:
            outfile_prefix = stack.enter_context(tempfile.TemporaryDirectory())
        result_dir = osp.abspath(outfile_prefix)
        results2txt(results, filenames, classes, result_dir)
        work_dir = stack.enter_context(tempfile.TemporaryDirectory())

        args = copy.copy(cs_eval.args)
        args.cityscapesPath = osp.abspath(osp.join(img_prefix, "..", ".."))
        args.predictionPath = result_dir
        args.predictionWalk = None
        args.JSONOutput = False
        args.colorized = False
        args.quiet = False
        args.gtInstancesFile = osp.join(work_dir, "gtInstances.json")
        args.exportFile = osp.join(work_dir, "resultInstanceLevelSemanticLabeling.json")

        output = io.StringIO()
        try:
            with _working_dir(work_dir), contextlib.redirect_stdout(output):
                predictions = [cs_eval.getPrediction(gt, args) for gt in gt_files]
                result = cs_eval.evaluateImgLists(predictions, gt_files, args)
        except SystemExit as exc:
            lines = [line for line in output.getvalue().splitlines() if line.startswith("ERROR")]
            message = lines[-1] if lines else output.getvalue()[-500:]
            raise RuntimeError(
                f"cityscapesscripts evaluation failed (exit code {exc.code}): {message}"
            ) from None
    print_log(output.getvalue(), logger)
    averages = result["averages"]
    return {"mAP": float(averages["allAp"]), "AP@50": float(averages["allAp50%"])}
