"""The error browser without a browser: ``ErrorAnalysis`` from ``tools/test.py --out`` of the
tiny checkpoint, and the ipywidgets ``ErrorBrowser`` driven through its controls and button
grids (the JupyterLab test in tests/browser clicks the same widgets in Chromium)."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from analysis_helpers import REPO, gt_results
from PIL import Image

from detkit.analysis.error_analysis import ErrorAnalysis, browse_errors
from detkit.data.synthetic.detections import simulate_results
from detkit.viz.error_browser import ErrorBrowser
from detkit.viz.error_panels import PanelInstances, instance_names, render_error_pair


def load_test_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("test_tool", REPO / "tools/test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_from_tools_test_out_pickle(tiny, tmp_path):
    """The results pickle of ``tools/test.py --out`` on the val split, read by config."""
    out = tmp_path / "results.pkl"
    load_test_tool().main([tiny["config"], tiny["checkpoint"], "--out", str(out)])
    errors = ErrorAnalysis.from_config(tiny["config"], str(out), split="test")
    assert errors.iou_types() == ["bbox", "segm"] and len(errors.img_ids) == 3
    for iou_type in errors.iou_types():
        view = errors.classified(iou_type, 0.5, 0.0)
        m = view.matching
        assert len(m.det_score) == sum(len(b) for r in errors.results for b in r[0])
        rows = errors.class_table(view)
        assert sum(r["tp"] + r["miss"] for r in rows) == int((~m.gt_crowd).sum())
    image, gt, det = errors.panels(view, 0)
    assert image.ndim == 3 and len(det) == int((m.det_image == 0).sum())
    with pytest.raises(KeyError, match="no 'training' split"):
        ErrorAnalysis.from_config(tiny["config"], str(out), split="training")


@pytest.fixture(scope="module")
def browser(tiny, val_dataset, tmp_path_factory):
    """A browser over simulated detections of the tiny val split (3 images, one empty)."""
    coco = val_dataset.coco
    results = simulate_results(
        coco, val_dataset.img_ids, val_dataset.cat_ids, seed=3, with_masks=True,
        rates={"tp": 0.4, "loc": 0.2, "confusion": 0.2, "duplicate": 0.1, "miss": 0.1},
        background_per_image=2,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("browser") / "results.pkl"
    path.write_bytes(pickle.dumps(results))
    return browse_errors(tiny["config"], str(path), split="val", score_thr=0.0)


def shown(browser: ErrorBrowser) -> tuple:
    return (
        browser.status.value,
        tuple(browser.image_list.options),
        browser.picture.value,
        tuple(c.description for c in browser.table.children if hasattr(c, "description")),
    )


def test_controls_change_list_counts_and_picture(browser):
    first = shown(browser)
    assert browser.image_list.options, "no image with an error"
    picture = Image.open(io.BytesIO(browser.picture.value))
    assert picture.width > 2 * picture.height  # two panels side by side
    browser.controls["error"].value = "localisation"
    localisation = shown(browser)
    assert localisation[0] != first[0] and "localisation" in localisation[0]
    counts = browser.counts[browser.order]
    assert (counts > 0).all() and (np.diff(counts) <= 0).all()  # most errors first
    browser.controls["IoU thr"].value = 0.75
    assert "IoU &ge; 0.75" in browser.status.value
    browser.controls["score thr"].value = 0.6
    view = browser.view
    assert view.score_thr == 0.6 and (view.matching.det_score[view.kind >= 0] >= 0.6).all()
    browser.controls["match on"].value = "segm"
    assert browser.view.matching.iou_type == "segm"
    browser.controls["error"].value = "per-image AP"
    assert len(browser.image_list.options) == 3  # every image, lowest AP first
    browser.image_list.value = browser.image_list.options[-1][1]
    assert browser.picture_title.value.count("AP") == 1


def test_table_and_matrix_clicks_filter(browser):
    browser.controls["score thr"].value = 0.0
    browser.controls["IoU thr"].value = 0.5
    table = [c for c in browser.table.children if hasattr(c, "click")]
    car_miss = next(c for c in table if c.tooltip == "car: miss")
    car_miss.click()
    assert (browser.label, browser.controls["error"].value) == (2, "miss")
    assert "(car)" in browser.status.value
    matrix = {c.tooltip: c for c in browser.matrix.children if hasattr(c, "click")}
    confusions = [
        (tip, c)
        for tip, c in matrix.items()
        if c.description != "0"
        and tip.split(" -> ")[0] not in ("background",)
        and tip.split(" -> ")[1] not in ("missed", tip.split(" -> ")[0])
    ]
    assert confusions, "the simulated set has class confusions"
    tip, cell = confusions[0]
    cell.click()
    truth, detected = tip.split(" -> ")
    names = list(browser.errors.class_names)
    assert browser.label == names.index(detected) and browser.confused_with == names.index(truth)
    assert browser.controls["error"].value == "confusion"
    assert int(browser.counts.sum()) == int(cell.description)
    browser.controls["class"].value = -1  # choosing a class by hand drops the confused-with
    assert browser.confused_with is None


def test_render_error_pair_and_names():
    img = np.zeros((40, 60, 3), np.uint8)
    gt = PanelInstances(np.array([[5, 5, 20, 20]]), np.array([1]), ["miss"], np.array([0]))
    det = PanelInstances(
        np.array([[5, 5, 20, 20], [30, 5, 50, 30]]),
        np.array([0, 1]),
        ["oth", "tp"],
        np.array([0, 1]),
        scores=np.array([0.9, 0.5]),
        overlaps=np.array([0.75, 0.8]),
        confused=np.array([1, -1]),
    )
    names = ["car", "truck"]
    assert instance_names(gt, names) == ["MISS truck"]
    assert instance_names(det, names) == ["CONF car 0.90 on truck 0.75", "#1 truck 0.50 IoU 0.80"]
    pair = render_error_pair(img, gt, det, names, max_width=None)
    assert pair.shape == (40, 128, 3)
    assert tuple(pair[5, 10]) == (219, 20, 61)  # the miss's top edge in the miss colour
    small = render_error_pair(img, gt, det, names, max_width=64)
    assert small.shape == (20, 64, 3)


def test_gt_results_have_no_errors(tiny, val_dataset, tmp_path):
    errors = ErrorAnalysis.from_dataset(val_dataset, gt_results(val_dataset))
    view = errors.classified("bbox", 0.95, 0.0)
    rows = errors.class_table(view)
    assert all(r["tp"] == r["gt"] and r["miss"] == 0 and r["background"] == 0 for r in rows)
    assert np.nanmin(errors.image_ap("bbox")) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one per image of the split"):
        ErrorAnalysis.from_dataset(val_dataset, gt_results(val_dataset)[:2])
    with pytest.raises(TypeError, match="COCO-style dataset"):
        ErrorAnalysis.from_dataset(object(), [])


def test_bench_runs_small(tmp_path):
    """bench/error_browser.py end to end at a tiny size (a smoke run, not a timing test)."""
    import json
    import subprocess
    import sys

    out = tmp_path / "bench.json"
    subprocess.run(
        [sys.executable, str(REPO / "bench/error_browser.py"), "--images", "12", "--unique", "2"]
        + ["--size", "256", "128", "--repeats", "1", "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
        cwd=tmp_path,
    )
    report = json.loads(out.read_text())
    steps = [row["step"] for row in report["seconds"]]
    assert report["images"] == 12 and "matrix click" in steps and "boxes / masks" in steps
