"""The notebooks as a user meets them: JupyterLab in headless Chromium, cells run from the Run
menu, widgets moved with the mouse/keyboard, and what the page shows checked and screenshotted
(``work_dirs/browser/``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from lab_page import (
    error_outputs,
    mark_cells_that_show,
    marked_cells,
    open_notebook,
    run_all_cells,
    set_widget_value,
    stable_screenshot,
    unfinished_cells,
    wait_for_idle_kernel,
    widget_control,
)
from lab_server import LabServer
from probe_notebook import write_probe_notebook

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser

OPEN_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 120.0
# A fastprogress bar in an output; cells that ever show one get the attribute data-fastprogress.
PROGRESS_BAR = ".jp-OutputArea-output progress"
PROGRESS_MARK = "fastprogress"


def run_notebook_in_lab(page: Page, lab: LabServer, name: str, screenshot_dir: Path) -> None:
    """Open ``name`` in ``lab``, Run All Cells, and fail on any unfinished cell or error shown."""
    open_notebook(page, lab.notebook_url(name), OPEN_TIMEOUT_S)
    mark_cells_that_show(page, PROGRESS_BAR, PROGRESS_MARK)
    run_all_cells(page, RUN_TIMEOUT_S)
    page.screenshot(path=screenshot_dir / f"{Path(name).stem}_run_all.png", full_page=True)
    assert error_outputs(page) == []
    assert unfinished_cells(page) == []


def change_control_and_wait(
    page: Page, preview: Locator, description: str, value: str | int, shown_text: str
) -> tuple[list[bytes], list[bytes]]:
    """Set the control ``description`` to ``value``; wait until ``preview`` shows ``shown_text``
    and its rendering has settled.

    Returns PNG screenshots of every image in ``preview`` before and after the change.
    """
    stable_screenshot(preview)
    before = [image.screenshot() for image in preview.locator("img").all()]
    set_widget_value(widget_control(page, description), value)
    preview.get_by_text(shown_text).wait_for(timeout=RUN_TIMEOUT_S * 1000)
    wait_for_idle_kernel(page, RUN_TIMEOUT_S)
    stable_screenshot(preview)
    return before, [image.screenshot() for image in preview.locator("img").all()]


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
    with_plot.first.locator(".jp-OutputArea").screenshot(path=screenshot_path)


def test_lab_renders_widgets_and_progress(
    page: Page, lab: LabServer, lab_root: Path, screenshot_dir: Path
) -> None:
    """On the probe notebook: widgets render and answer every control; fastprogress finishes."""
    write_probe_notebook(lab_root / "probe.ipynb")
    run_notebook_in_lab(page, lab, "probe.ipynb", screenshot_dir)

    preview = page.locator(".jp-Notebook .widget-output")
    for description, value in [("policy", "Translate"), ("level", 7), ("seed", 3)]:
        before, after = change_control_and_wait(page, preview, description, value, f"{description}={value}")
        preview.screenshot(path=screenshot_dir / f"probe_{description}_changed.png")
        assert before and after, "the preview shows no image"
        assert after != before, f"preview image unchanged after setting {description}={value}"
    assert preview.get_by_text("policy=Translate level=7 seed=3").is_visible()
    assert error_outputs(page) == []
    assert_progress_finished(page, screenshot_dir / "probe_training.png")
