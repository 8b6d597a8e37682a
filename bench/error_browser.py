"""Seconds per interaction of the error browser (nbs/07) on a large result set.

    python bench/error_browser.py [--images 500] [--unique 20] [--size 2048 1024]
                                  [--repeats 5] [--out error_browser.json]

A generated Cityscapes-format val split of ``--unique`` images (``--size``, Cityscapes' own
2048x1024 by default) is tiled to ``--images`` COCO images (their own ids and annotations,
shared files), with simulated detections and masks holding every kind of error
(``detkit.data.synthetic.detections``). Timed in the kernel, as a notebook runs them: building
the browser (matching once, per-image AP, the tables and the first drawing), then each
interaction ``--repeats`` times in turn (median and worst): the handler of each control, an
image selection, a click in the per-class table and in the confusion matrix. The first switch
to mask matching (which matches masks once) is timed on its own. The browser's own handlers
run as a click in JupyterLab runs them; the front end's drawing of the PNG is not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pycocotools.coco import COCO

import detkit
from detkit.analysis.error_analysis import ErrorAnalysis
from detkit.data.synthetic.detections import simulate_results
from detkit.evaluation.coco import load_coco
from detkit.viz.error_browser import ErrorBrowser

TARGET_S = 2.0


def tiled_split(root: Path, images: int, unique: int, size: tuple[int, int]) -> tuple[COCO, list]:
    """The generated split's COCO ground truth repeated to ``images`` images, and their files."""
    detkit.generate_cityscapes_sample(root, train=0, val=unique, test=0, size=size, seed=0)
    with contextlib.redirect_stdout(io.StringIO()):
        detkit.convert_cityscapes(
            root, root / "annotations", nproc=2, show_progress=False, splits=("val",)
        )
    base = load_coco(str(root / "annotations/instancesonly_filtered_gtFine_val.json")).dataset
    dataset: dict[str, Any] = {"categories": base["categories"], "images": [], "annotations": []}
    for n in range(images):
        source = base["images"][n % len(base["images"])]
        dataset["images"].append(dict(source, id=n + 1))
        for ann in base["annotations"]:
            if ann["image_id"] == source["id"]:
                copied = copy.deepcopy(ann)
                copied.update(id=len(dataset["annotations"]) + 1, image_id=n + 1)
                dataset["annotations"].append(copied)
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    files = [str(root / "leftImg8bit/val" / i["file_name"]) for i in dataset["images"]]
    return coco, files


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interactions(browser: ErrorBrowser) -> dict[str, list[Callable[[], Any]]]:
    """Each interaction as alternating actions (so that every repeat changes something)."""
    c = browser.controls

    def set_value(name: str, value: Any) -> Callable[[], None]:
        return lambda: setattr(c[name], "value", value)

    def select_image(rank: int) -> Callable[[], None]:
        return lambda: setattr(browser.image_list, "value", browser.image_list.options[rank][1])

    def click(grid: Any, tooltip: str) -> Callable[[], None]:
        button = next(b for b in grid.children if getattr(b, "tooltip", None) == tooltip)
        return button.click

    names = browser.errors.class_names
    return {
        "class": [set_value("class", 2), set_value("class", -1)],
        "error kind": [set_value("error", "localisation"), set_value("error", "any error")],
        "score threshold": [set_value("score thr", 0.5), set_value("score thr", 0.3)],
        "IoU threshold": [set_value("IoU thr", 0.75), set_value("IoU thr", 0.5)],
        "select an image": [select_image(5), select_image(1)],
        "table click": [click(browser.table, f"{names[2]}: miss"), set_value("class", -1)],
        "matrix click": [
            click(browser.matrix, f"{names[3]} -> {names[2]}"),
            click(browser.matrix, f"background -> {names[0]}"),
        ],
        "boxes / masks": [set_value("match on", "bbox"), set_value("match on", "segm")],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--unique", type=int, default=20, help="generated images, tiled")
    parser.add_argument("--size", type=int, nargs=2, default=[2048, 1024], metavar=("W", "H"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="error_browser.json")
    args = parser.parse_args(argv)
    cpu = detkit.probe_cpu().summary()
    print(f"CPU: {cpu}\nthreads: {detkit.thread_settings().summary()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        coco, files = tiled_split(Path(tmp), args.images, args.unique, tuple(args.size))
        img_ids, cat_ids = coco.getImgIds(), coco.getCatIds()
        results = simulate_results(coco, img_ids, cat_ids, seed=0, with_masks=True)
        names = [c["name"] for c in coco.loadCats(cat_ids)]
        detections = sum(len(b) for r in results for b in r[0])
        print(
            f"{args.images} images ({args.size[0]}x{args.size[1]}), {len(coco.anns)} ground "
            f"truth, {detections} detections with masks: made in "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )
        holder: dict[str, ErrorBrowser] = {}

        def build() -> None:
            errors = ErrorAnalysis(results, coco, img_ids, cat_ids, names, files)
            holder["browser"] = ErrorBrowser(errors, score_thr=0.3, iou_thr=0.5)

        build_s = timed(build)
        browser = holder["browser"]
        first_masks_s = timed(lambda: setattr(browser.controls["match on"], "value", "segm"))
        rows = [("build (match boxes once, AP, tables, first image)", build_s, build_s)]
        rows.append(("first switch to masks (matches masks once)", first_masks_s, first_masks_s))
        for name, actions in interactions(browser).items():
            samples = [timed(action) for _ in range(args.repeats) for action in actions]
            rows.append((name, statistics.median(samples), max(samples)))
    print(f"\n{'interaction':<52} {'median s':>9} {'worst s':>8}")
    for name, median, worst in rows:
        print(f"{name:<52} {median:9.3f} {worst:8.3f}")
    slowest = max(worst for name, _, worst in rows[2:])
    verdict = "met" if slowest < TARGET_S else "NOT met"
    print(f"\nslowest interaction {slowest:.3f} s: target < {TARGET_S} s {verdict} ({cpu})")
    report = {
        "cpu": cpu,
        "images": args.images,
        "image_size": args.size,
        "ground_truth": len(coco.anns),
        "detections": detections,
        "repeats": args.repeats,
        "seconds": [{"step": n, "median": round(m, 4), "worst": round(w, 4)} for n, m, w in rows],
        "slowest_interaction_s": round(slowest, 4),
        "target_s": TARGET_S,
    }
    Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
