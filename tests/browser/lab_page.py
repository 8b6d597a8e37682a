"""Playwright helpers that use JupyterLab the way a person does: open a notebook, Run > Run All
Cells, read what the cells show, and move ipywidgets controls found by their description label.

Everything works on the rendered DOM of JupyterLab 4 (notebook windowing off, see
``lab_server.LAB_USER_SETTINGS``, so every cell is in the page).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
# The status bar's kernel item reads "<kernel display name> | <status>" once a kernel is attached
# ("No Kernel | ..." before); the toolbar indicator already says idle while no kernel exists.
KERNEL_STATUS = '.jp-StatusBar-TextItem[title^="Change kernel for"]'
KERNEL_IDLE = re.compile(r"^(?!No Kernel).* \| Idle$")
# A rendered traceback or exception name in any text output (stderr or stdout).
ERROR_TEXT = re.compile(r"Traceback|\b\w*(Error|Exception)\b")
# What ipywidgets' front end shows when a widget cannot be rendered.
WIDGET_ERROR_TEXT = ("Error displaying widget", "Error rendering", "Failed to load model class")

# True once Run All has finished: no cell is queued or running ("[*]") and either every code
# cell got an execution count, or one raised (JupyterLab then stops and leaves the rest "[ ]").
_RUN_ALL_FINISHED_JS = """(notebook) => {
    const prompts = [...document.querySelectorAll(notebook + ' .jp-CodeCell .jp-InputPrompt')]
        .map(p => p.textContent.trim());
    if (prompts.length === 0 || prompts.some(p => p.includes('*'))) return false;
    const stderr = document.querySelector(
        notebook + ' .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
    return prompts.every(p => /\\[\\d+\\]/.test(p)) || stderr !== null;
}"""


def open_notebook(page: Page, url: str, timeout_s: float) -> None:
    """Load ``url`` (a ``/lab/tree/...`` notebook URL) and wait until its kernel is idle."""
    page.goto(url)
    page.wait_for_selector(NOTEBOOK, timeout=timeout_s * 1000)
    wait_for_idle_kernel(page, timeout_s)


def run_all_cells(page: Page, timeout_s: float) -> None:
    """Click Run > Run All Cells and wait until the run has finished (or stopped at an error)."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(_RUN_ALL_FINISHED_JS, arg=NOTEBOOK, timeout=timeout_s * 1000)
    wait_for_idle_kernel(page, timeout_s)


def wait_for_idle_kernel(page: Page, timeout_s: float) -> None:
    """Wait until the status bar shows the notebook's kernel attached and idle."""
    idle = page.locator(KERNEL_STATUS).filter(has_text=KERNEL_IDLE)
    idle.wait_for(timeout=timeout_s * 1000)


def unfinished_cells(page: Page) -> list[str]:
    """Input prompts (like ``[ ]:``) of code cells that did not get an execution count."""
    prompts = page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    return [prompt for prompt in prompts if not re.search(r"\[\d+\]", prompt)]


def error_outputs(page: Page) -> list[str]:
    """Texts of outputs showing a traceback/exception, or a widget that failed to render."""
    errors = []
    for text in page.locator(f"{NOTEBOOK} .jp-RenderedText").all_inner_texts():
        if ERROR_TEXT.search(text):
            errors.append(text)
    notebook_text = page.locator(NOTEBOOK).inner_text()
    errors += [message for message in WIDGET_ERROR_TEXT if message in notebook_text]
    return errors


def widget_control(page: Page, description: str) -> Locator:
    """The ipywidgets control row whose description label reads exactly ``description``.

    Raises LookupError naming the description when no control, or more than one, carries it.
    """
    label = page.locator("label.widget-label").filter(
        has_text=re.compile(rf"^\s*{re.escape(description)}\s*$")
    )
    rows = page.locator(f"{NOTEBOOK} .jupyter-widgets.widget-inline-hbox").filter(has=label)
    if rows.count() != 1:
        raise LookupError(f"expected one widget described {description!r}, found {rows.count()}")
    return rows.first


def set_widget_value(control: Locator, value: str | int | float) -> None:
    """Set a Dropdown, IntSlider/FloatSlider or IntText/FloatText ``control`` as a user would.

    Dropdown: picks the option labelled ``value``; slider: types ``value`` into its readout and
    presses Enter; number box: types ``value`` and presses Enter then Tab (so it commits).
    """
    classes = (control.get_attribute("class") or "").split()
    if "widget-dropdown" in classes:
        control.locator("select").select_option(label=str(value))
    elif "widget-slider" in classes:
        readout = control.locator(".widget-readout")
        readout.click()
        readout.press("Control+A")
        readout.press_sequentially(str(value))
        readout.press("Enter")
    elif "widget-text" in classes:
        box = control.locator("input")
        box.fill(str(value))
        box.press("Enter")
        box.press("Tab")
    else:
        raise ValueError(f"no setter for a widget with classes {classes}")


def mark_cells_that_show(page: Page, selector: str, mark: str) -> None:
    """From now on, tag every code cell in which ``selector`` appears, even for a moment, with
    the attribute ``data-<mark>`` (a MutationObserver in the page), so transient outputs such as
    a fastprogress bar that replaces itself when done can be checked afterwards."""
    page.evaluate(
        """([selector, mark]) => {
            const tag = () => document.querySelectorAll(selector).forEach(node => {
                const cell = node.closest('.jp-CodeCell');
                if (cell) cell.setAttribute('data-' + mark, '');
            });
            new MutationObserver(tag).observe(document.body, {subtree: true, childList: true});
            tag();
        }""",
        [selector, mark],
    )


def marked_cells(page: Page, mark: str) -> Locator:
    """Code cells tagged by ``mark_cells_that_show`` with ``mark``."""
    return page.locator(f"{NOTEBOOK} .jp-CodeCell[data-{mark}]")


# Scroll a node to the middle of the notebook (JupyterLab scrolls inside its own panel, which
# leaves blank any part of a partly visible node), wait until every image in it is decoded (a
# large PNG is otherwise painted a few rows at a time) and two frames have been drawn.
_BRING_INTO_VIEW_JS = """async (node) => {
    node.scrollIntoView({block: 'center'});
    const images = node.tagName === 'IMG' ? [node] : [...node.querySelectorAll('img')];
    await Promise.all(images.map(image => image.decode()));
    await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
}"""


def screenshot_in_view(target: Locator, path: Path | None = None) -> bytes:
    """A PNG of ``target`` (also written to ``path``) once it is in view with its images decoded."""
    target.evaluate(_BRING_INTO_VIEW_JS)
    return target.screenshot(path=path)


def stable_screenshot(target: Locator, settle_s: float = 0.4, timeout_s: float = 30.0) -> bytes:
    """A PNG of ``target`` once two screenshots ``settle_s`` apart are identical."""
    deadline = time.monotonic() + timeout_s
    previous = screenshot_in_view(target)
    while time.monotonic() < deadline:
        time.sleep(settle_s)
        current = screenshot_in_view(target)
        if current == previous:
            return current
        previous = current
    raise TimeoutError(f"rendering did not settle within {timeout_s:.0f} s")
