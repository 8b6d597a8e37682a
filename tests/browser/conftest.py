"""Fixtures for the browser tests: one JupyterLab server and one headless Chromium per module.

The tests are skipped (with the reason) only when Debian's Chromium (``/usr/bin/chromium``) or
the ``playwright`` package is missing; ``.ci/run`` installs Chromium and the ``dev`` extra
installs playwright, so in CI they run. Screenshots go to ``work_dirs/browser/``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from lab_server import LabServer, running_lab
from shared_data import in_ci

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO_ROOT / "work_dirs" / "browser"
# Flags for a closed network and a root user; playwright itself adds --no-sandbox and a fresh
# temporary --user-data-dir.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing_browser_parts() -> list[str]:
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (Debian package 'chromium'; .ci/run installs it)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the python package 'playwright' (pip install -e '.[dev]')")
    return missing


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless system Chromium driven by Playwright's sync API."""
    missing = _missing_browser_parts()
    if missing:  # .ci/run installs them: in CI a missing part is a failure
        reason = "browser test needs " + " and ".join(missing)
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder JupyterLab serves; tests copy or write the notebooks they open into it."""
    return tmp_path_factory.mktemp("lab_root")


@pytest.fixture(scope="module")
def lab(
    chromium: Browser, lab_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabServer]:
    """JupyterLab on 127.0.0.1 with a temporary token and state dirs, serving ``lab_root``."""
    with running_lab(lab_root, tmp_path_factory.mktemp("lab_state")) as server:
        yield server


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser tab (own cookies/storage) sized like a laptop screen."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """``work_dirs/browser/``, where the tests leave their screenshots."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR
