"""The notebooks as a user meets them: JupyterLab in headless Chromium, cells run from the Run
menu, widgets moved with the mouse/keyboard, and what the page shows checked and screenshotted
(``work_dirs/browser/``)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest
from lab_page import (
    NOTEBOOK,
    error_outputs,
    mark_cells_that_show,
    marked_cells,
    open_notebook,
    run_all_cells,
    screenshot_in_view,
    set_widget_value,
    stable_screenshot,
    unfinished_cells,
    wait_for_idle_kernel,
    widget_control,
)
from lab_server import LabServer
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from PIL import Image
from probe_notebook import write_probe_notebook

from detkit.data.convert import convert_cityscapes
from detkit.data.synthetic import generate_cityscapes_sample

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_CONFIG = (
    REPO_ROOT / "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"
)
DEMO_CONFIG = (
    REPO_ROOT / "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes_demo.py"
)
# nbs/03's controls, found by their description labels, and the values the test sets in turn.
# The preview prints its augmented panel's title ("<policy> level <l> prob <p> seed <s> (...)").
# On the 256x128 samples, Translate level 5 / 3 moves by 125 / 75 px. With sign "random", seed 0
# draws a positive and seed 2 a negative shift (mmdet's draw order: the apply-prob draw, then the
# sign draw), so the seed change must move the image.
PREVIEW_CHANGES: list[tuple[str, str | int, str, bool]] = [
    # (description, value, title shown afterwards, image must change)
    ("policy", "Translate", "Translate level 5 prob 1 seed 0", True),
    ("level", 3, "Translate level 3 prob 1 seed 0", True),
    ("sign", "random", "Translate level 3 prob 1 seed 0", False),
    ("seed", 2, "Translate level 3 prob 1 seed 2", True),
]
# Fraction of a preview figure's height (from the top) holding the panel titles, left out when
# comparing images so that a changed title alone does not count as a changed picture.
TITLE_BAND = 0.15

OPEN_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 120.0
# A fastprogress bar in an output; cells that ever show one get the attribute data-fastprogress.
PROGRESS_BAR = ".jp-OutputArea-output progress"
PROGRESS_MARK = "fastprogress"


def copy_with_parameters(source: Path, target: Path, parameters: dict[str, Any]) -> str:
    """Write ``source`` to ``target`` with papermill's injected-parameters cell after its
    ``parameters`` cell, as a papermill run would; returns ``target``'s file name."""
    notebook = parameterize_notebook(load_notebook_node(str(source)), parameters)
    nbformat.write(notebook, target)
    return target.name


def run_notebook_in_lab(page: Page, lab: LabServer, name: str, screenshot_dir: Path) -> None:
    """Open ``name`` in ``lab``, Run All Cells, and fail on any unfinished cell or error shown."""
    open_notebook(page, lab.notebook_url(name), OPEN_TIMEOUT_S)
    mark_cells_that_show(page, PROGRESS_BAR, PROGRESS_MARK)
    run_all_cells(page, RUN_TIMEOUT_S)
    page.screenshot(path=screenshot_dir / f"{Path(name).stem}_run_all.png")
    assert_no_errors_shown(page)
    assert unfinished_cells(page) == []


def assert_no_errors_shown(page: Page) -> None:
    """No output shows a traceback/exception and no widget failed to render."""
    errors = error_outputs(page)
    assert not errors, "errors shown in the page:\n" + "\n\n".join(
        error[-1500:] for error in errors
    )


def pictures_shown(preview: Locator) -> list[bytes]:
    """Pixels (RGB bytes) of every image in ``preview`` as rendered on screen, without the top
    ``TITLE_BAND`` of each image."""
    pictures = []
    for image in preview.locator("img").all():
        rendered = Image.open(io.BytesIO(screenshot_in_view(image))).convert("RGB")
        width, height = rendered.size
        pictures.append(rendered.crop((0, int(height * TITLE_BAND), width, height)).tobytes())
    return pictures


def change_control_and_wait(
    page: Page, preview: Locator, description: str, value: str | int, shown_text: str
) -> tuple[list[bytes], list[bytes]]:
    """Set the control ``description`` to ``value``; wait until ``preview`` shows ``shown_text``
    and its rendering has settled.

    Returns ``pictures_shown(preview)`` before and after the change.
    """
    stable_screenshot(preview)
    before = pictures_shown(preview)
    set_widget_value(widget_control(page, description), value)
    preview.get_by_text(shown_text).wait_for(timeout=RUN_TIMEOUT_S * 1000)
    wait_for_idle_kernel(page, RUN_TIMEOUT_S)
    stable_screenshot(preview)
    return before, pictures_shown(preview)


def assert_progress_finished(page: Page, screenshot_path: Path) -> None:
    """fastprogress bars appeared during the run, none is left unfinished or interrupted, and a
    cell that showed them also shows a (live loss) plot; screenshot that cell."""
    cells = marked_cells(page, PROGRESS_MARK)
    assert cells.count() > 0, "no fastprogress bar appeared while the notebook ran"
    for cell in cells.all():
        for bar in cell.locator("progress").all():
            assert bar.get_attribute("value") == bar.get_attribute("max"), "unfinished progress bar"
        assert "Interrupted" not in cell.locator(".jp-OutputArea").inner_text()
    with_plot = cells.filter(has=page.locator(".jp-OutputArea-output img"))
    assert with_plot.count() > 0, "no plot in the cells that showed a progress bar"
    screenshot_in_view(with_plot.first.locator(".jp-OutputArea"), screenshot_path)


def assert_log_lines_plain(page: Page, screenshot_path: Path) -> None:
    """INFO log lines are shown as plain output, none in JupyterLab's stderr style (a red
    box); the per-epoch table is shown. Screenshot the first output with a log line."""
    stderr = page.locator(f'{NOTEBOOK} [data-mime-type="application/vnd.jupyter.stderr"]')
    styled = [text for text in stderr.all_inner_texts() if " - INFO - " in text]
    assert not styled, "INFO log lines shown as stderr:\n" + "\n".join(styled[:5])
    log_lines = page.locator(f"{NOTEBOOK} .jp-OutputArea-output", has_text=" - INFO - ")
    assert log_lines.count() > 0, "no log line shown"
    screenshot_in_view(log_lines.first, screenshot_path)
    headers = page.locator(f"{NOTEBOOK} .jp-OutputArea-output table th").all_inner_texts()
    assert {"epoch", "train_loss", "bbox_mAP", "segm_mAP", "time"} <= set(headers), headers


def test_lab_renders_widgets_and_progress(
    page: Page, lab: LabServer, lab_root: Path, screenshot_dir: Path
) -> None:
    """On the probe notebook: widgets render and answer every control; fastprogress finishes."""
    write_probe_notebook(lab_root / "probe.ipynb")
    run_notebook_in_lab(page, lab, "probe.ipynb", screenshot_dir)

    preview = page.locator(".jp-Notebook .widget-output")
    for description, value in [("policy", "Translate"), ("level", 7), ("seed", 3)]:
        before, after = change_control_and_wait(
            page, preview, description, value, f"{description}={value}"
        )
        screenshot_in_view(preview, screenshot_dir / f"probe_{description}_changed.png")
        assert before and after, "the preview shows no image"
        image_changed = after != before
        assert image_changed, f"preview image unchanged after setting {description}={value}"
    assert preview.get_by_text("policy=Translate level=7 seed=3").is_visible()
    assert_no_errors_shown(page)
    assert_progress_finished(page, screenshot_dir / "probe_training.png")


@pytest.mark.notebook
def test_augmentation_preview_notebook_in_lab(
    page: Page, lab: LabServer, lab_root: Path, screenshot_dir: Path, tmp_path: Path
) -> None:
    """nbs/03 with a generated 2-sample 256x128 set: every cell runs clean, the live preview
    shows its figure once, and its policy, level and seed controls each redraw the augmented
    image and its title."""
    name = copy_with_parameters(
        REPO_ROOT / "nbs/03_augmentation_preview.ipynb",
        lab_root / "03_augmentation_preview.ipynb",
        dict(
            data_root=str(tmp_path / "missing"),
            work_dir=str(tmp_path / "work"),
            config=str(SEED_CONFIG),
            num_samples=2,
            levels=[0, 10],
            sample_size=[256, 128],
        ),
    )
    run_notebook_in_lab(page, lab, name, screenshot_dir)

    preview = page.locator(".jp-Notebook .widget-output")
    ui = page.locator(".jp-Notebook .widget-vbox").filter(has=page.locator(".widget-output"))
    preview_cell = page.locator(".jp-Notebook .jp-CodeCell").filter(
        has=page.locator(".widget-output")
    )
    shown_twice = preview_cell.locator("img").count() != preview.locator("img").count()
    assert not shown_twice, "the preview figure is also shown outside the preview widget"
    screenshot_in_view(ui, screenshot_dir / "03_preview_before.png")
    for description, value, title, must_change in PREVIEW_CHANGES:
        before, after = change_control_and_wait(page, preview, description, value, title)
        screenshot_in_view(ui, screenshot_dir / f"03_preview_{description}_changed.png")
        assert before and after, "the preview shows no image"
        image_changed = after != before
        assert image_changed or not must_change, (
            f"preview image unchanged after setting {description}={value}"
        )
    assert_no_errors_shown(page)


@pytest.mark.notebook
def test_train_and_evaluate_notebook_in_lab(
    page: Page, lab: LabServer, lab_root: Path, screenshot_dir: Path, tmp_path: Path
) -> None:
    """nbs/04 with tiny parameters (demo model, 4 train / 2 val images of 128x64, 2 iterations):
    every cell runs clean, the fastprogress bars appear and finish beside the live loss plot."""
    sample = tmp_path / "sample"
    generate_cityscapes_sample(sample, train=4, val=2, test=0, size=(128, 64), seed=3)
    convert_cityscapes(
        sample, sample / "annotations", nproc=1, show_progress=False, splits=("train", "val")
    )
    name = copy_with_parameters(
        REPO_ROOT / "nbs/04_train_and_evaluate.ipynb",
        lab_root / "04_train_and_evaluate.ipynb",
        dict(
            config=str(DEMO_CONFIG),
            data_root=str(sample),
            work_dir=str(tmp_path / "work"),
            max_epochs=1,
            times=1,
            img_scale=[128, 64],
            samples_per_gpu=2,
            eval_interval=1,
            cfg_options={"data.workers_per_gpu": 0},
        ),
    )
    run_notebook_in_lab(page, lab, name, screenshot_dir)
    assert_progress_finished(page, screenshot_dir / "04_training.png")
    assert_log_lines_plain(page, screenshot_dir / "04_log_lines.png")
    assert (tmp_path / "work" / "latest.pth").is_file()


def error_browser_parts(page: Page) -> tuple[Locator, Locator, Locator, Locator]:
    """nbs/07's error browser: (the whole widget, its status line, its drawn image, its
    per-class table)."""
    has_status = page.locator(".widget-html").filter(has_text=" images with ")
    widget = page.locator(f"{NOTEBOOK} .widget-vbox").filter(has=has_status).first
    status = widget.locator(".widget-html").filter(has_text=" images with ").first
    picture = widget.locator("img.widget-image").first
    table = widget.locator(".widget-gridbox").first
    return widget, status, picture, table


def wait_for_text(target: Locator, text: str) -> None:
    target.get_by_text(text).first.wait_for(timeout=RUN_TIMEOUT_S * 1000)


@pytest.mark.notebook
def test_error_browser_notebook_in_lab(
    page: Page, lab: LabServer, lab_root: Path, screenshot_dir: Path, tmp_path: Path
) -> None:
    """nbs/07 on 4 generated 256x128 val images with simulated detections (``tools/test.py
    --out``'s format) runs clean; in the error browser, choosing an error kind, a class, an
    image and a score threshold changes the counts shown (to the numbers ``ErrorAnalysis``
    gives), the drawn image and the per-class table, and no error is shown."""
    import pickle

    from detkit.analysis.error_analysis import ErrorAnalysis
    from detkit.config import Config
    from detkit.data import build_dataset
    from detkit.data.synthetic.detections import simulate_results

    sample = tmp_path / "sample"
    generate_cityscapes_sample(sample, train=0, val=4, test=0, size=(256, 128), seed=2)
    convert_cityscapes(
        sample, sample / "annotations", nproc=1, show_progress=False, splits=("val",)
    )
    options = {
        "data.val.ann_file": str(sample / "annotations/instancesonly_filtered_gtFine_val.json"),
        "data.val.img_prefix": str(sample / "leftImg8bit/val") + "/",
    }
    cfg = Config.fromfile(str(DEMO_CONFIG))
    cfg.merge_from_dict(options)
    dataset = build_dataset(cfg.data.val, dict(test_mode=True))
    results = simulate_results(
        dataset.coco, dataset.img_ids, dataset.cat_ids, seed=5, with_masks=True,
        rates={"tp": 0.4, "loc": 0.2, "confusion": 0.2, "duplicate": 0.1, "miss": 0.1},
        background_per_image=3,
    )  # fmt: skip
    (tmp_path / "results.pkl").write_bytes(pickle.dumps(results))
    # the class whose background detections are on the most images: what the page must list
    errors = ErrorAnalysis.from_dataset(dataset, results)
    view = errors.classified("bbox", 0.5, 0.0)
    listed = {k: len(errors.ranking(view, "background", k)[0]) for k in range(8)}
    label = max(listed, key=listed.get)
    assert listed[label] >= 2, listed
    class_name = errors.class_names[label]

    name = copy_with_parameters(
        REPO_ROOT / "nbs/07_error_analysis.ipynb",
        lab_root / "07_error_analysis.ipynb",
        dict(
            config=str(DEMO_CONFIG),
            results=str(tmp_path / "results.pkl"),
            split="val",
            score_thr=0.0,
            iou_thr=0.5,
            cfg_options=options,
        ),
    )
    run_notebook_in_lab(page, lab, name, screenshot_dir)
    page.set_viewport_size({"width": 1400, "height": 2000})  # the whole browser in view
    widget, status, picture, table = error_browser_parts(page)
    first = stable_screenshot(picture)
    first_table = table.inner_text()
    screenshot_in_view(widget, screenshot_dir / "07_browser_any_error.png")

    set_widget_value(widget_control(page, "error"), "background")
    wait_for_text(status, "images with background")
    set_widget_value(widget_control(page, "class"), class_name)
    wait_for_text(status, f"({class_name})")
    wait_for_idle_kernel(page, RUN_TIMEOUT_S)
    assert status.inner_text().startswith(f"{listed[label]} of 4 images with background")
    screenshot_in_view(widget, screenshot_dir / "07_browser_class_and_error.png")

    before = stable_screenshot(picture)
    title = widget.locator(".widget-html").filter(has_text="left: ground truth").first
    shown = title.inner_text()
    image_list = widget_control(page, "image").locator("select")
    image_list.select_option(index=1)
    page.wait_for_function(
        "([node, text]) => !node.innerText.includes(text)",
        arg=[title.element_handle(), shown.split(" (AP")[0]],
        timeout=RUN_TIMEOUT_S * 1000,
    )
    wait_for_idle_kernel(page, RUN_TIMEOUT_S)
    after = stable_screenshot(picture)
    assert after != before and after != first, "the drawn image did not change"
    screenshot_in_view(widget, screenshot_dir / "07_browser_image_selected.png")

    set_widget_value(widget_control(page, "score thr"), 0.9)
    wait_for_text(status, "score ≥ 0.90")
    wait_for_idle_kernel(page, RUN_TIMEOUT_S)
    assert table.inner_text() != first_table, "the per-class table did not change"
    screenshot_in_view(widget, screenshot_dir / "07_browser_score_thr.png")
    assert_no_errors_shown(page)
